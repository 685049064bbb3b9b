use std::collections::BTreeMap;

use super::*;
use crate::store::{StoreConfig, StoreError};

struct T {
    _dir: tempfile::TempDir,
    m: Mimeis,
    me: UserId,
}

fn setup() -> T {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db"), &StoreConfig::default()).unwrap();
    T {
        _dir: dir,
        m: Mimeis::new(store),
        me: UserId::from_bytes([1; 32]),
    }
}

fn p(s: &str) -> MimeiPath {
    MimeiPath::parse(s).unwrap()
}

impl T {
    fn create(&self, mark: &str) -> MimeiId {
        self.m
            .create(
                &self.me,
                &NewMimei {
                    mark: mark.into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .id
    }
    fn put(&self, id: &MimeiId, path: &str, data: &[u8]) {
        self.m.write_file(&self.me, id, &p(path), data).unwrap();
    }
    fn get(&self, id: &MimeiId, v: VersionRef, path: &str) -> Result<Vec<u8>> {
        Ok(self.m.read_file(&self.me, id, v, &p(path))?.read_all()?)
    }
}

#[test]
fn create_is_stable_and_unique() {
    let t = setup();
    let id = t.create("notes");
    assert_eq!(id, MimeiId::derive(&t.me, "", "", "notes"));
    let again = t.m.create(
        &t.me,
        &NewMimei {
            mark: "notes".into(),
            ..Default::default()
        },
    );
    assert!(matches!(again, Err(MimeiError::AlreadyExists(x)) if x == id));
    let info = t.m.info(&id).unwrap();
    assert_eq!(info.author, t.me);
    assert_eq!(info.mark, "notes");
    assert!(info.created > 0);
    assert_eq!(t.m.all().unwrap().len(), 1);
}

#[test]
fn files_versions_last_and_release() {
    let t = setup();
    let id = t.create("docs");
    t.put(&id, "a.txt", b"one");
    t.put(&id, "dir/b.txt", b"bee");
    let v0 = t.m.backup(&t.me, &id, "first").unwrap();
    assert_eq!((v0.number, v0.files, v0.bytes), (0, 2, 6));
    t.put(&id, "a.txt", b"two");
    assert_eq!(t.get(&id, VersionRef::Cur, "a.txt").unwrap(), b"two");
    assert_eq!(t.get(&id, VersionRef::Number(0), "a.txt").unwrap(), b"one");
    assert_eq!(t.get(&id, VersionRef::Last, "a.txt").unwrap(), b"one");
    let v1 = t.m.backup(&t.me, &id, "second").unwrap();
    assert_eq!(v1.number, 1);
    assert_eq!(t.get(&id, VersionRef::Last, "a.txt").unwrap(), b"two");
    assert_eq!(
        t.get(&id, VersionRef::Number(1), "dir/b.txt").unwrap(),
        b"bee"
    );
    assert_eq!(
        v0.fs_root,
        t.m.version(&id, 0).unwrap().fs_root,
        "versions never change"
    );

    assert!(matches!(
        t.m.read_file(&t.me, &id, VersionRef::Release, &p("a.txt")),
        Err(MimeiError::NoSuchVersion { .. })
    ));
    let heads = t.m.release(&t.me, &id, VersionRef::Number(0)).unwrap();
    assert_eq!(
        heads,
        Heads {
            next: 2,
            last: Some(1),
            release: Some(0)
        }
    );
    assert_eq!(t.get(&id, VersionRef::Release, "a.txt").unwrap(), b"one");
    assert!(matches!(
        t.m.release(&t.me, &id, VersionRef::Number(9)),
        Err(MimeiError::NoSuchVersion { .. })
    ));
    assert!(t.m.release(&t.me, &id, VersionRef::Cur).is_err());

    let log = t.m.log(&t.me, &id).unwrap();
    assert_eq!(
        log.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(),
        ["first", "second"]
    );
}

#[test]
fn unchanged_tree_shares_blocks() {
    let t = setup();
    let id = t.create("x");
    t.put(&id, "big/one", &vec![1u8; 300_000]);
    t.put(&id, "small/two", b"2");
    let v0 = t.m.backup(&t.me, &id, "").unwrap();
    let before = t.m.store().stats().unwrap().blocks;
    let v1 = t.m.backup(&t.me, &id, "").unwrap();
    assert_eq!(v0.fs_root, v1.fs_root);
    assert_eq!(
        t.m.store().stats().unwrap().blocks,
        before,
        "nothing new stored"
    );
    t.put(&id, "small/two", b"changed");
    let v2 = t.m.backup(&t.me, &id, "").unwrap();
    let big0 =
        t.m.stat(&t.me, &id, VersionRef::Number(0), &p("big"))
            .unwrap();
    let big2 =
        t.m.stat(&t.me, &id, VersionRef::Number(2), &p("big"))
            .unwrap();
    assert_eq!(
        big0.hash, big2.hash,
        "unchanged subdirectory keeps its digest"
    );
    assert_ne!(v0.fs_root, v2.fs_root);
}

#[test]
fn listing_cur_and_versions_agree() {
    let t = setup();
    let id = t.create("x");
    for f in ["a/b/c", "a/b/d", "a/e", "f", "a-b/g"] {
        t.put(&id, f, f.as_bytes());
    }
    t.m.backup(&t.me, &id, "").unwrap();
    for recursive in [false, true] {
        for dir in ["", "a", "a/b"] {
            let cur =
                t.m.list(&t.me, &id, VersionRef::Cur, &p(dir), recursive)
                    .unwrap();
            let v0 =
                t.m.list(&t.me, &id, VersionRef::Number(0), &p(dir), recursive)
                    .unwrap();
            let names = |l: &[DirEntry]| {
                l.iter()
                    .map(|e| (e.path.to_string(), e.kind))
                    .collect::<Vec<_>>()
            };
            assert_eq!(names(&cur), names(&v0), "dir {dir:?} recursive {recursive}");
        }
    }
    let top =
        t.m.list(&t.me, &id, VersionRef::Cur, &MimeiPath::root(), false)
            .unwrap();
    let names: Vec<_> = top.iter().map(|e| e.path.to_string()).collect();
    assert_eq!(names, ["a", "a-b", "f"]);
    assert!(matches!(
        t.m.list(&t.me, &id, VersionRef::Cur, &p("f"), false),
        Err(MimeiError::NotADirectory(_))
    ));
    assert!(matches!(
        t.m.list(&t.me, &id, VersionRef::Cur, &p("zz"), false),
        Err(MimeiError::NoSuchPath(_))
    ));
}

#[test]
fn file_and_directory_conflicts_are_refused() {
    let t = setup();
    let id = t.create("x");
    t.put(&id, "a/b", b"1");
    let w = |path: &str| t.m.write_file(&t.me, &id, &p(path), &b"x"[..]);
    assert!(matches!(w("a"), Err(MimeiError::IsADirectory(_))));
    assert!(matches!(w("a/b/c"), Err(MimeiError::NotADirectory(_))));
    assert!(matches!(
        t.m.read_file(&t.me, &id, VersionRef::Cur, &p("a")),
        Err(MimeiError::IsADirectory(_))
    ));
    assert!(matches!(
        t.m.read_file(&t.me, &id, VersionRef::Cur, &p("nope")),
        Err(MimeiError::NoSuchPath(_))
    ));
}

#[test]
fn move_and_delete() {
    let t = setup();
    let id = t.create("x");
    t.put(&id, "d/one", b"1");
    t.put(&id, "d/sub/two", b"2");
    t.put(&id, "other", b"o");
    assert_eq!(t.m.rename(&t.me, &id, &p("d"), &p("e/moved")).unwrap(), 2);
    assert_eq!(
        t.get(&id, VersionRef::Cur, "e/moved/sub/two").unwrap(),
        b"2"
    );
    assert!(matches!(
        t.m.rename(&t.me, &id, &p("other"), &p("e")),
        Err(MimeiError::PathExists(_))
    ));
    assert!(t.m.rename(&t.me, &id, &p("e"), &p("e/inside")).is_err());
    assert!(matches!(
        t.m.rename(&t.me, &id, &p("missing"), &p("z")),
        Err(MimeiError::NoSuchPath(_))
    ));
    assert_eq!(t.m.delete(&t.me, &id, &p("e")).unwrap(), 2);
    assert!(matches!(
        t.m.delete(&t.me, &id, &p("e")),
        Err(MimeiError::NoSuchPath(_))
    ));
    let all =
        t.m.list(&t.me, &id, VersionRef::Cur, &MimeiPath::root(), true)
            .unwrap();
    assert_eq!(all.len(), 1);
}

#[test]
fn gc_keeps_what_versions_need() {
    let t = setup();
    let id = t.create("x");
    t.put(&id, "keep", &vec![5u8; 600_000]);
    t.put(&id, "gone", b"temporary");
    t.m.backup(&t.me, &id, "").unwrap();
    t.m.delete(&t.me, &id, &p("keep")).unwrap();
    t.put(&id, "scratch", b"a");
    t.put(&id, "scratch", b"b"); // the first content is now unreferenced
    let freed = t.m.store().gc().unwrap();
    assert_eq!(
        freed.blocks_freed, 1,
        "only the overwritten scratch content"
    );
    assert_eq!(
        t.get(&id, VersionRef::Number(0), "keep").unwrap(),
        vec![5u8; 600_000]
    );
    assert_eq!(t.get(&id, VersionRef::Cur, "scratch").unwrap(), b"b");
}

#[test]
fn database_versions_and_scans() {
    let t = setup();
    let id = t.create("db");
    let big = vec![9u8; 5000];
    let mut model = BTreeMap::new();
    for i in 0..500u32 {
        let k = format!("k{i:04}");
        let v = if i % 50 == 0 {
            big.clone()
        } else {
            i.to_le_bytes().to_vec()
        };
        model.insert(k.clone(), v.clone());
        t.m.db_put(&t.me, &id, &k, &v).unwrap();
    }
    let v0 = t.m.backup(&t.me, &id, "").unwrap();
    assert_eq!(v0.db_entries, 500);
    t.m.db_put(&t.me, &id, "k0001", b"new").unwrap();
    assert!(t.m.db_delete(&t.me, &id, "k0002").unwrap());
    assert_eq!(
        t.m.db_get(&t.me, &id, VersionRef::Cur, "k0001")
            .unwrap()
            .unwrap(),
        b"new"
    );
    assert_eq!(
        t.m.db_get(&t.me, &id, VersionRef::Cur, "k0002").unwrap(),
        None
    );
    for (k, v) in &model {
        assert_eq!(
            t.m.db_get(&t.me, &id, VersionRef::Number(0), k)
                .unwrap()
                .as_ref(),
            Some(v),
            "{k}"
        );
    }
    assert_eq!(
        t.m.db_get(&t.me, &id, VersionRef::Number(0), "absent")
            .unwrap(),
        None
    );
    assert_eq!(
        t.m.db_get(&t.me, &id, VersionRef::Number(0), "a").unwrap(),
        None
    );

    let ranges = [
        DbRange {
            prefix: Some("k01".into()),
            ..Default::default()
        },
        DbRange {
            start: Some("k0195".into()),
            end: Some("k0230".into()),
            ..Default::default()
        },
        DbRange {
            start: Some("k0400".into()),
            limit: Some(7),
            ..Default::default()
        },
        DbRange {
            prefix: Some("k04".into()),
            start: Some("k0350".into()),
            end: Some("k0455".into()),
            limit: Some(30),
            ..Default::default()
        },
        DbRange {
            prefix: Some("k00".into()),
            end: Some("k0070".into()),
            limit: Some(3),
            ..Default::default()
        },
        DbRange {
            start: Some("k0123".into()),
            limit: Some(3),
            ..Default::default()
        },
        DbRange {
            prefix: Some("k1".into()),
            ..Default::default()
        },
        DbRange::default(),
    ];
    // Each range forwards and backwards, in the frozen tree and in `cur` (where k0001
    // changed and k0002 is gone).
    let mut now = model.clone();
    now.insert("k0001".into(), b"new".to_vec());
    now.remove("k0002");
    for r in &ranges {
        for reverse in [false, true] {
            let r = DbRange {
                reverse,
                ..r.clone()
            };
            for (v, model) in [(VersionRef::Number(0), &model), (VersionRef::Cur, &now)] {
                let got: Vec<_> =
                    t.m.db_scan(&t.me, &id, v, &r)
                        .unwrap()
                        .into_iter()
                        .map(|e| (e.key, e.value))
                        .collect();
                let mut want: Vec<_> = model
                    .iter()
                    .filter(|(k, _)| r.prefix.as_deref().is_none_or(|p| k.starts_with(p)))
                    .filter(|(k, _)| r.start.as_deref().is_none_or(|s| k.as_str() >= s))
                    .filter(|(k, _)| r.end.as_deref().is_none_or(|e| k.as_str() < e))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if reverse {
                    want.reverse();
                }
                want.truncate(r.limit.unwrap_or(usize::MAX));
                assert_eq!(got, want, "{r:?} at {v:?}");
            }
        }
    }
    let cur =
        t.m.db_scan(
            &t.me,
            &id,
            VersionRef::Cur,
            &DbRange {
                prefix: Some("k000".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        cur.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
        [
            "k0000", "k0001", "k0003", "k0004", "k0005", "k0006", "k0007", "k0008", "k0009"
        ]
    );

    // A small change rewrites a few nodes only.
    let before = t.m.store().stats().unwrap().blocks;
    t.m.backup(&t.me, &id, "").unwrap();
    let added = t.m.store().stats().unwrap().blocks - before;
    assert!(
        added <= 6,
        "one changed leaf path plus the root dir, got {added}"
    );
}

#[test]
fn database_limits() {
    let t = setup();
    let id = t.create("db");
    assert!(matches!(
        t.m.db_put(&t.me, &id, "", b"x"),
        Err(MimeiError::InvalidField { .. })
    ));
    assert!(matches!(
        t.m.db_put(&t.me, &id, &"k".repeat(MAX_DB_KEY_LEN + 1), b"x"),
        Err(MimeiError::TooLarge { .. })
    ));
    assert!(matches!(
        t.m.db_put(&t.me, &id, "k", &vec![0; MAX_DB_VALUE_LEN + 1]),
        Err(MimeiError::TooLarge { .. })
    ));
    assert!(
        t.m.db_scan(&t.me, &id, VersionRef::Cur, &DbRange::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn diff_between_versions_and_cur() {
    let t = setup();
    let id = t.create("x");
    t.put(&id, "same", b"s");
    t.put(&id, "changed", b"1");
    t.put(&id, "removed", b"r");
    t.m.db_put(&t.me, &id, "dk", b"1").unwrap();
    t.m.backup(&t.me, &id, "").unwrap();
    t.put(&id, "changed", b"2");
    t.put(&id, "added/new", b"n");
    t.m.delete(&t.me, &id, &p("removed")).unwrap();
    t.m.db_put(&t.me, &id, "dk2", b"x").unwrap();
    let d =
        t.m.diff(&t.me, &id, VersionRef::Number(0), VersionRef::Cur)
            .unwrap();
    let files: Vec<_> = d
        .files
        .iter()
        .map(|e| (e.path.to_string(), e.change))
        .collect();
    assert_eq!(
        files,
        [
            ("added/new".into(), Change::Added),
            ("changed".into(), Change::Modified),
            ("removed".into(), Change::Removed)
        ]
    );
    assert_eq!(
        d.db,
        [DbChange {
            key: "dk2".into(),
            change: Change::Added
        }]
    );
    t.m.backup(&t.me, &id, "").unwrap();
    let d2 =
        t.m.diff(&t.me, &id, VersionRef::Number(0), VersionRef::Number(1))
            .unwrap();
    assert_eq!(d2.files, d.files);
    assert!(
        t.m.diff(&t.me, &id, VersionRef::Last, VersionRef::Cur)
            .unwrap()
            .files
            .is_empty()
    );
}

#[test]
fn fork_records_origin_and_copies_content() {
    let t = setup();
    let id = t.create("orig");
    t.put(&id, "f", b"v0");
    t.m.db_put(&t.me, &id, "k", b"v0").unwrap();
    t.m.backup(&t.me, &id, "").unwrap();
    t.put(&id, "f", b"v1");
    assert!(t.m.fork(&t.me, &id, VersionRef::Cur, "fork").is_err());
    let other = UserId::from_bytes([2; 32]);
    t.m.set_rights(&t.me, &id, Rights::public()).unwrap();
    let fork = t.m.fork(&other, &id, VersionRef::Last, "mine").unwrap();
    assert_eq!(
        fork.origin,
        Some(Origin {
            mimei: id,
            version: 0
        })
    );
    assert_eq!(fork.author, other);
    assert_eq!(
        t.m.read_file(&other, &fork.id, VersionRef::Cur, &p("f"))
            .unwrap()
            .read_all()
            .unwrap(),
        b"v0"
    );
    assert_eq!(
        t.m.db_get(&other, &fork.id, VersionRef::Cur, "k")
            .unwrap()
            .unwrap(),
        b"v0"
    );
    // The fork evolves on its own.
    t.m.write_file(&other, &fork.id, &p("f"), &b"fork"[..])
        .unwrap();
    assert_eq!(t.get(&id, VersionRef::Number(0), "f").unwrap(), b"v0");
    assert_eq!(t.m.heads(&fork.id).unwrap(), Heads::default());
}

#[test]
fn split_leaves_a_reference() {
    let t = setup();
    let id = t.create("album");
    t.put(&id, "photos/1.jpg", b"one");
    t.put(&id, "photos/2019/2.jpg", b"two");
    t.put(&id, "readme", b"r");
    let part = t.m.split(&t.me, &id, &p("photos"), "photos").unwrap();
    assert_eq!(
        t.m.read_file(&t.me, &part.id, VersionRef::Cur, &p("2019/2.jpg"))
            .unwrap()
            .read_all()
            .unwrap(),
        b"two"
    );
    let st = t.m.stat(&t.me, &id, VersionRef::Cur, &p("photos")).unwrap();
    assert_eq!((st.kind, st.mimei), (EntryKind::Mimei, Some(part.id)));
    assert!(matches!(
        t.m.read_file(&t.me, &id, VersionRef::Cur, &p("photos")),
        Err(MimeiError::IsAReference(..))
    ));
    assert_eq!(
        t.m.refs(&t.me, &id).unwrap(),
        [MimeiRef {
            mimei: part.id,
            count: 1
        }]
    );
    let v = t.m.backup(&t.me, &id, "").unwrap();
    assert_eq!(
        v.refs,
        [MimeiRef {
            mimei: part.id,
            count: 1
        }]
    );
    let st0 =
        t.m.stat(&t.me, &id, VersionRef::Number(0), &p("photos"))
            .unwrap();
    assert_eq!(st0.kind, EntryKind::Mimei);
    assert!(matches!(
        t.m.split(&t.me, &id, &p("readme"), "r"),
        Err(MimeiError::NotADirectory(_))
    ));
    // Nothing was freed that the new Mimei holds.
    t.m.store().gc().unwrap();
    assert_eq!(
        t.m.read_file(&t.me, &part.id, VersionRef::Cur, &p("1.jpg"))
            .unwrap()
            .read_all()
            .unwrap(),
        b"one"
    );
}

#[test]
fn references_count_up_and_down() {
    let t = setup();
    let a = t.create("a");
    let b = t.create("b");
    assert_eq!(t.m.add_ref(&t.me, &a, &b, 2).unwrap(), 2);
    assert_eq!(t.m.add_ref(&t.me, &a, &b, -1).unwrap(), 1);
    assert!(t.m.add_ref(&t.me, &a, &b, -5).is_err());
    assert_eq!(t.m.add_ref(&t.me, &a, &b, -1).unwrap(), 0);
    assert!(t.m.refs(&t.me, &a).unwrap().is_empty());
}

#[test]
fn rights_are_enforced() {
    let t = setup();
    let id = t.create("private");
    t.put(&id, "secret", b"s");
    let stranger = UserId::from_bytes([7; 32]);
    let member = UserId::from_bytes([8; 32]);
    let denied = |r: Result<_>| matches!(r, Err(MimeiError::PermissionDenied { .. }));
    assert!(denied(
        t.m.read_file(&stranger, &id, VersionRef::Cur, &p("secret"))
            .map(|_| ())
    ));
    assert!(denied(
        t.m.write_file(&stranger, &id, &p("x"), &b""[..])
            .map(|_| ())
    ));
    assert!(denied(
        t.m.set_rights(&stranger, &id, Rights::public()).map(|_| ())
    ));
    t.m.set_member(&t.me, &id, &member, Some(Role::Member))
        .unwrap();
    t.m.write_file(&member, &id, &p("m"), &b"by member"[..])
        .unwrap();
    t.m.backup(&member, &id, "").unwrap();
    assert!(denied(
        t.m.release(&member, &id, VersionRef::Last).map(|_| ())
    ));
    assert!(denied(
        t.m.set_rights(&member, &id, Rights::public()).map(|_| ())
    ));
}

#[test]
fn bad_ids_and_versions() {
    let t = setup();
    let unknown = MimeiId::from_bytes([0; 32]);
    assert!(matches!(t.m.info(&unknown), Err(MimeiError::NotFound(_))));
    assert!(matches!(
        t.m.backup(&t.me, &unknown, ""),
        Err(MimeiError::NotFound(_))
    ));
    assert!("nonsense".parse::<VersionRef>().is_err());
    assert!(matches!(
        "3".parse::<VersionRef>(),
        Ok(VersionRef::Number(3))
    ));
    assert!(matches!(
        VersionRef::Number(0).require_cur(),
        Err(MimeiError::ReadOnlyVersion(_))
    ));
    let id = t.create("x");
    assert!(matches!(
        t.m.list(&t.me, &id, VersionRef::Last, &MimeiPath::root(), false),
        Err(MimeiError::NoSuchVersion { .. })
    ));
}

#[test]
fn corrupted_block_in_a_version_is_reported() {
    let t = setup();
    let id = t.create("x");
    t.put(&id, "f", b"precious content");
    t.m.backup(&t.me, &id, "").unwrap();
    let hash =
        t.m.stat(&t.me, &id, VersionRef::Number(0), &p("f"))
            .unwrap()
            .hash
            .unwrap();
    t.m.store()
        .tree()
        .insert(crate::store::block_key(&hash), b"evil".as_slice())
        .unwrap();
    let r =
        t.m.read_file(&t.me, &id, VersionRef::Number(0), &p("f"))
            .and_then(|r| Ok(r.read_all()?));
    assert!(
        matches!(r, Err(MimeiError::Store(StoreError::Corrupt { .. }))),
        "{r:?}"
    );
}

#[test]
fn import_mirrors_a_directory_and_dedups() {
    let t = setup();
    let id = t.create("tree");
    let src = tempfile::tempdir().unwrap();
    let root = src.path();
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/b/x.txt"), b"hello").unwrap();
    std::fs::write(root.join("a/dup1"), vec![3u8; 700_000]).unwrap();
    std::fs::write(root.join("a/dup2"), vec![3u8; 700_000]).unwrap();
    std::fs::write(root.join("top"), b"t").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
    t.put(&id, "stale", b"old file, not in the directory");

    let calls = std::sync::atomic::AtomicU64::new(0);
    let s =
        t.m.import_dir(&t.me, &id, root, &MimeiPath::root(), &|_| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!((s.files, s.changed, s.removed), (4, 4, 1));
    assert_eq!(s.skipped, if cfg!(unix) { 1 } else { 0 });
    assert!(calls.into_inner() >= 5);
    assert!(
        s.new_bytes < 600_000,
        "duplicate chunks stored once: {}",
        s.new_bytes
    );
    assert_eq!(
        t.get(&id, VersionRef::Cur, "a/dup2").unwrap(),
        vec![3u8; 700_000]
    );
    assert!(t.get(&id, VersionRef::Cur, "stale").is_err());

    let again =
        t.m.import_dir(&t.me, &id, root, &MimeiPath::root(), &|_| {})
            .unwrap();
    assert_eq!((again.changed, again.removed, again.new_bytes), (0, 0, 0));

    t.m.backup(&t.me, &id, "").unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("export");
    let e =
        t.m.export_dir(
            &t.me,
            &id,
            VersionRef::Last,
            &MimeiPath::root(),
            &dest,
            &|_| {},
        )
        .unwrap();
    assert_eq!(e.files, 4);
    assert_eq!(std::fs::read(dest.join("a/b/x.txt")).unwrap(), b"hello");
    assert_eq!(std::fs::read(dest.join("a/dup1")).unwrap().len(), 700_000);
    // Never overwrites.
    assert!(matches!(
        t.m.export_dir(
            &t.me,
            &id,
            VersionRef::Last,
            &MimeiPath::root(),
            &dest,
            &|_| {}
        ),
        Err(MimeiError::PathExists(_))
    ));
}

#[test]
fn events_are_emitted() {
    let t = setup();
    let mut rx = t.m.subscribe();
    let id = t.create("ev");
    t.put(&id, "f", b"1");
    t.m.backup(&t.me, &id, "").unwrap();
    assert_eq!(rx.try_recv().unwrap(), MimeiEvent::Created { id });
    assert_eq!(rx.try_recv().unwrap(), MimeiEvent::FilesChanged { id });
    assert_eq!(
        rx.try_recv().unwrap(),
        MimeiEvent::Backup { id, version: 0 }
    );
}

#[test]
fn verify_reports_intact_and_damaged_versions() {
    let t = setup();
    let id = t.create("v");
    t.put(&id, "a", b"alpha");
    t.put(&id, "d/b", &vec![1u8; 700_000]);
    t.m.db_put(&t.me, &id, "k", b"v").unwrap();
    t.m.backup(&t.me, &id, "").unwrap();
    t.put(&id, "a", b"beta");
    t.m.backup(&t.me, &id, "").unwrap();
    let ok = t.m.verify(&t.me, &id).unwrap();
    assert!(ok.problems.is_empty(), "{:?}", ok.problems);
    assert_eq!(ok.versions, 2);
    assert_eq!(ok.files, 6, "2 files in each version and in cur");
    let hash =
        t.m.stat(&t.me, &id, VersionRef::Number(0), &p("a"))
            .unwrap()
            .hash
            .unwrap();
    t.m.store()
        .tree()
        .insert(crate::store::block_key(&hash), b"rot".as_slice())
        .unwrap();
    let bad = t.m.verify(&t.me, &id).unwrap();
    assert_eq!(bad.problems.len(), 1, "{:?}", bad.problems);
    assert!(
        bad.problems[0].starts_with("version 0: a:"),
        "{}",
        bad.problems[0]
    );
}

/// Re-import does not read files whose size, times and inode are unchanged (the stat
/// cache), yet sees every change of content, even one that keeps size and mtime.
#[cfg(unix)]
#[test]
fn import_skips_unchanged_files_but_sees_changes() {
    let t = setup();
    let id = t.create("stat-cache");
    let src = tempfile::tempdir().unwrap();
    let root = src.path();
    std::fs::create_dir_all(root.join("d")).unwrap();
    for i in 0..5 {
        std::fs::write(root.join(format!("d/f{i}")), vec![i as u8; 5000 + i]).unwrap();
    }
    let import = || {
        t.m.import_dir(&t.me, &id, root, &MimeiPath::root(), &|_| {})
            .unwrap()
    };
    // Files changed within the last 2 s are never cached (racily clean).
    let first = import();
    assert_eq!((first.changed, first.cached), (5, 0));
    let second = import();
    assert_eq!(
        (second.changed, second.cached),
        (0, 0),
        "too fresh to trust"
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let third = import();
    assert_eq!((third.changed, third.cached), (0, 0));
    let fourth = import();
    assert_eq!((fourth.changed, fourth.cached, fourth.new_bytes), (0, 5, 0));

    // Same size, mtime put back: ctime still changes, so the content is read.
    let f = root.join("d/f2");
    let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
    std::fs::write(&f, vec![9u8; 5002]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let fifth = import();
    assert_eq!((fifth.changed, fifth.cached), (1, 4));
    assert_eq!(
        t.get(&id, VersionRef::Cur, "d/f2").unwrap(),
        vec![9u8; 5002]
    );

    // A write through the API makes the cache entry stale: the file is read again.
    t.put(&id, "d/f3", b"other");
    let sixth = import();
    assert_eq!(
        (sixth.changed, sixth.cached),
        (1, 3),
        "f2 is too fresh to cache, f3 stale"
    );
    assert_eq!(
        t.get(&id, VersionRef::Cur, "d/f3").unwrap(),
        vec![3u8; 5003]
    );

    // Removed files leave no stat entries behind.
    std::fs::remove_file(root.join("d/f0")).unwrap();
    let seventh = import();
    assert_eq!(seventh.removed, 1);
    let stat_keys =
        t.m.store()
            .scan_prefix(&key(prefix::STAT, &id, &[]))
            .unwrap();
    assert!(stat_keys.len() <= 4, "{} stat entries", stat_keys.len());
}
