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

fn big(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

#[test]
fn large_blocks_go_to_packs_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let data = big(1, INLINE_MAX + 1);
    let small = vec![9u8; INLINE_MAX];
    let (h, s);
    {
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let mut txn = store.write();
        h = txn.put_block(&data, &[]).unwrap();
        s = txn.put_block(&small, &[]).unwrap();
        assert_eq!(txn.put_block(&data, &[]).unwrap(), h, "stored once");
        txn.incref(&h).unwrap();
        txn.incref(&s).unwrap();
        txn.commit().unwrap();
        assert!(store.tree().contains_key(pack_key(&h)).unwrap());
        assert!(!store.tree().contains_key(block_key(&h)).unwrap());
        assert!(
            store.tree().contains_key(block_key(&s)).unwrap(),
            "small stays inline"
        );
        let st = store.stats().unwrap();
        assert_eq!(st.blocks, 2);
        assert_eq!(st.block_bytes, (data.len() + small.len()) as u64);
    }
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    assert_eq!(store.get_block(&h).unwrap(), data);
    assert_eq!(store.get_block(&s).unwrap(), small);
    // A new run writes to a new pack, never to the end of an old one.
    let mut txn = store.write();
    let h2 = txn.put_block(&big(2, 10_000), &[]).unwrap();
    txn.incref(&h2).unwrap();
    txn.commit().unwrap();
    let packs = std::fs::read_dir(dir.path().join(PACKS_DIR))
        .unwrap()
        .count();
    assert_eq!(packs, 2);
}

#[test]
fn corrupted_pack_bytes_are_detected_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let mut txn = store.write();
    let h = txn.put_block(&big(3, 50_000), &[]).unwrap();
    txn.incref(&h).unwrap();
    txn.commit().unwrap();
    let pack = std::fs::read_dir(dir.path().join(PACKS_DIR))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&pack, &bytes).unwrap();
    assert!(matches!(store.get_block(&h), Err(StoreError::Corrupt { hash }) if hash == h));
    // A pack cut short is reported the same way.
    std::fs::write(&pack, &bytes[..1000]).unwrap();
    assert!(matches!(store.get_block(&h), Err(StoreError::Corrupt { hash }) if hash == h));
}

/// A crash can leave a location in sled (sled flushes on its own) whose bytes never
/// reached the disk. On the next run such a location names nothing: the block reads as
/// missing and writing it again stores it anew instead of trusting the torn copy.
#[test]
fn location_past_durable_end_of_earlier_run_counts_as_absent() {
    let dir = tempfile::tempdir().unwrap();
    let data = big(4, 20_000);
    let h = BlockHash::of(&data);
    {
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let mut txn = store.write();
        let kept = txn.put_block(&big(5, 8_000), &[]).unwrap();
        txn.incref(&kept).unwrap();
        txn.commit().unwrap();
        // Written but never committed; then "crash": the pack loses its unsynced tail.
        let mut stage = store.stage();
        stage.put(&data, &[]).unwrap();
        store.tree().flush().unwrap();
        let pack = std::fs::read_dir(dir.path().join(PACKS_DIR))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let f = std::fs::OpenOptions::new().write(true).open(pack).unwrap();
        f.set_len(8_000 + 5_000).unwrap();
        drop(stage);
    }
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    assert!(!store.has_block(&h).unwrap());
    assert!(matches!(store.get_block(&h), Err(StoreError::Missing(_))));
    let mut txn = store.write();
    assert_eq!(txn.put_block(&data, &[]).unwrap(), h);
    txn.incref(&h).unwrap();
    txn.commit().unwrap();
    assert_eq!(store.get_block(&h).unwrap(), data);
}

#[test]
fn gc_frees_packed_blocks_and_unused_pack_files() {
    let dir = tempfile::tempdir().unwrap();
    let h;
    {
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        let mut txn = store.write();
        h = txn.put_block(&big(6, 30_000), &[]).unwrap();
        txn.incref(&h).unwrap();
        txn.commit().unwrap();
    }
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let mut txn = store.write();
    let h2 = txn.put_block(&big(7, 30_000), &[]).unwrap();
    txn.incref(&h2).unwrap();
    txn.decref(&h).unwrap();
    txn.commit().unwrap();
    let packs = || {
        std::fs::read_dir(dir.path().join(PACKS_DIR))
            .unwrap()
            .count()
    };
    assert_eq!(packs(), 2);
    let st = store.gc().unwrap();
    assert_eq!((st.blocks_freed, st.bytes_freed), (1, 30_000));
    assert!(!store.has_block(&h).unwrap());
    assert_eq!(packs(), 1, "the first run's pack held only the freed block");
    assert_eq!(store.get_block(&h2).unwrap(), big(7, 30_000));
    drop(store);
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    assert_eq!(store.get_block(&h2).unwrap(), big(7, 30_000));
}
