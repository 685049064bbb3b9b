use super::*;

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    (dir, store)
}

#[test]
fn identical_content_is_stored_once() {
    let (_d, store) = open();
    let mut txn = store.write();
    let a = txn.put_block(b"hello", &[]).unwrap();
    let b = txn.put_block(b"hello", &[]).unwrap();
    assert_eq!(a, b);
    txn.incref(&a).unwrap();
    txn.incref(&b).unwrap();
    txn.commit().unwrap();
    assert_eq!(store.stats().unwrap().blocks, 1);
    assert_eq!(store.refcount(&a).unwrap(), 2);
    assert_eq!(store.get_block(&a).unwrap(), b"hello");
}

#[test]
fn gc_frees_only_unreferenced_blocks_and_cascades() {
    let (_d, store) = open();
    let mut txn = store.write();
    let leaf1 = txn.put_block(b"leaf1", &[]).unwrap();
    let leaf2 = txn.put_block(b"leaf2", &[]).unwrap();
    let parent_a = txn.put_block(b"parent-a", &[leaf1, leaf2]).unwrap();
    let parent_b = txn.put_block(b"parent-b", &[leaf2]).unwrap();
    let orphan = txn.put_block(b"orphan", &[]).unwrap();
    txn.incref(&parent_a).unwrap();
    txn.incref(&parent_b).unwrap();
    txn.commit().unwrap();
    assert_eq!(store.refcount(&leaf2).unwrap(), 2);

    let stats = store.gc().unwrap();
    assert_eq!(stats.blocks_freed, 1, "only the orphan goes");
    assert!(!store.has_block(&orphan).unwrap());

    let mut txn = store.write();
    txn.decref(&parent_a).unwrap();
    txn.commit().unwrap();
    let stats = store.gc().unwrap();
    assert_eq!(stats.blocks_freed, 2, "parent-a and leaf1");
    assert!(!store.has_block(&leaf1).unwrap());
    assert_eq!(
        store.get_block(&leaf2).unwrap(),
        b"leaf2",
        "still needed by parent-b"
    );
    assert_eq!(store.refcount(&leaf2).unwrap(), 1);
}

#[test]
fn revived_block_does_not_count_its_links_twice() {
    let (_d, store) = open();
    let mut txn = store.write();
    let leaf = txn.put_block(b"leaf", &[]).unwrap();
    let parent = txn.put_block(b"parent", &[leaf]).unwrap();
    txn.incref(&parent).unwrap();
    txn.commit().unwrap();
    let mut txn = store.write();
    txn.decref(&parent).unwrap();
    txn.commit().unwrap();
    // Dead but not collected; now referenced again.
    let mut txn = store.write();
    txn.incref(&parent).unwrap();
    txn.commit().unwrap();
    assert_eq!(store.refcount(&leaf).unwrap(), 1);
    store.gc().unwrap();
    assert!(store.has_block(&leaf).unwrap());
}

#[test]
fn dropped_transaction_changes_nothing() {
    let (_d, store) = open();
    {
        let mut txn = store.write();
        let h = txn.put_block(b"x", &[]).unwrap();
        txn.incref(&h).unwrap();
        txn.insert(b"Xkey".to_vec(), b"v".to_vec());
    }
    assert_eq!(store.get(b"Xkey").unwrap(), None);
    assert_eq!(store.refcount(&BlockHash::of(b"x")).unwrap(), 0);
}

#[test]
fn staged_blocks_survive_gc_until_dropped() {
    let (_d, store) = open();
    let mut stage = store.stage();
    let (h, new) = stage.put(b"staged", &[]).unwrap();
    assert!(new);
    store.gc().unwrap();
    assert!(store.has_block(&h).unwrap());
    drop(stage);
    store.gc().unwrap();
    assert!(!store.has_block(&h).unwrap());
}

#[test]
fn corrupted_block_is_detected_not_served() {
    let (_d, store) = open();
    let mut txn = store.write();
    let h = txn.put_block(b"precious", &[]).unwrap();
    txn.incref(&h).unwrap();
    txn.commit().unwrap();
    store
        .tree()
        .insert(block_key(&h), b"tampered".as_slice())
        .unwrap();
    assert!(matches!(store.get_block(&h), Err(StoreError::Corrupt { hash }) if hash == h));
}

#[test]
fn scan_sees_own_writes() {
    let (_d, store) = open();
    let mut txn = store.write();
    txn.insert(b"Xa".to_vec(), b"1".to_vec());
    txn.insert(b"Xb".to_vec(), b"2".to_vec());
    txn.commit().unwrap();
    let mut txn = store.write();
    txn.remove(b"Xa".to_vec());
    txn.insert(b"Xc".to_vec(), b"3".to_vec());
    let keys: Vec<_> = txn
        .scan_prefix(b"X")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec![b"Xb".to_vec(), b"Xc".to_vec()]);
}

#[test]
fn blobs_round_trip_at_chunk_boundaries() {
    let (_d, store) = open();
    for size in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE + 17,
    ] {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let mut txn = store.write();
        let blob = BlobRef::put(&mut txn, &data).unwrap();
        txn.incref(&blob.hash).unwrap();
        txn.commit().unwrap();
        assert_eq!(blob.size, size as u64);
        assert_eq!(blob.is_chunked(), size > CHUNK_SIZE);
        let r = BlobReader::open(&store, blob).unwrap();
        assert_eq!(r.read_all().unwrap(), data, "size {size}");
        if size > 10 {
            let off = size as u64 / 2;
            assert_eq!(
                r.read_range(off, 7).unwrap(),
                &data[off as usize..off as usize + 7]
            );
        }
    }
}

#[test]
fn chunked_blob_keeps_chunks_alive_and_frees_them() {
    let (_d, store) = open();
    let data = vec![7u8; 2 * CHUNK_SIZE + 5];
    let mut txn = store.write();
    let blob = BlobRef::put(&mut txn, &data).unwrap();
    txn.incref(&blob.hash).unwrap();
    txn.commit().unwrap();
    assert_eq!(store.gc().unwrap().blocks_freed, 0);
    // Two identical full chunks are one block referenced twice.
    assert_eq!(store.stats().unwrap().blocks, 3);
    let mut txn = store.write();
    txn.decref(&blob.hash).unwrap();
    txn.commit().unwrap();
    assert_eq!(store.gc().unwrap().blocks_freed, 3);
    assert_eq!(store.stats().unwrap().blocks, 0);
}

#[test]
fn oversized_block_is_refused() {
    let (_d, store) = open();
    let mut txn = store.write();
    let big = vec![0u8; MAX_BLOCK_SIZE + 1];
    assert!(matches!(
        txn.put_block(&big, &[]),
        Err(StoreError::TooLarge { .. })
    ));
}

#[test]
fn survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let h;
    {
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let mut txn = store.write();
        h = txn.put_block(b"durable", &[]).unwrap();
        txn.incref(&h).unwrap();
        txn.commit().unwrap();
    }
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    assert_eq!(store.get_block(&h).unwrap(), b"durable");
    assert_eq!(store.refcount(&h).unwrap(), 1);
}
