use super::*;
use crate::store::{Store, StoreConfig};

fn setup() -> (tempfile::TempDir, Apps) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s"), &StoreConfig::default()).unwrap();
    let apps = Apps::new(Mimeis::new(store), UserId::from_bytes([5; 32]));
    (dir, apps)
}

fn bundle(root: &Path, name: &str, version: &str, perms: &[&str]) -> std::path::PathBuf {
    let d = root.join(format!("{name}-{version}"));
    std::fs::create_dir_all(&d).unwrap();
    let m = serde_json::json!({"name": name, "version": version, "permissions": perms});
    std::fs::write(d.join(MANIFEST_FILE), m.to_string()).unwrap();
    std::fs::write(d.join("index.html"), format!("<h1>{name} {version}</h1>")).unwrap();
    d
}

#[test]
fn publish_install_update_uninstall() {
    let (dir, apps) = setup();
    // Reads and the scheduler do not create the registry: no apps, no Mimei.
    assert!(apps.list().unwrap().is_empty());
    assert_eq!(apps.run_due(now_ms()).unwrap(), TaskRun::default());
    assert!(apps.mimeis().all().unwrap().is_empty());
    let p = apps
        .publish(&bundle(dir.path(), "notes", "1.0", &["mimei.read"]))
        .unwrap();
    assert_eq!(apps.resolve("notes").unwrap(), p.id);
    assert!(matches!(
        apps.install(&p.id, &[Permission::Messages]),
        Err(AppError::NotRequested(_))
    ));
    let a = apps.install(&p.id, &[]).unwrap();
    assert_eq!(a.version, p.release);
    assert!(a.grants.is_empty());
    assert!(matches!(
        apps.install(&p.id, &[]),
        Err(AppError::AlreadyInstalled(_))
    ));
    let a = apps.grant(&p.id, Permission::MimeiRead).unwrap();
    assert!(a.grants.contains(&Permission::MimeiRead));

    // A new release is followed by update, not before.
    let p2 = apps
        .publish(&bundle(dir.path(), "notes", "1.1", &[]))
        .unwrap();
    assert_eq!(p2.id, p.id);
    assert!(p2.release > p.release);
    assert_eq!(apps.get(&p.id).unwrap().unwrap().version, p.release);
    let a = apps.update(&p.id).unwrap();
    assert_eq!(a.version, p2.release);
    assert_eq!(a.manifest.version, "1.1");
    assert!(a.grants.is_empty(), "grants the manifest dropped go away");

    // Data survives uninstall with keep_data, not without.
    apps.mimeis()
        .db_put(&apps.user, &a.data, "k", b"v")
        .unwrap();
    apps.uninstall(&p.id, true).unwrap();
    let a = apps.install(&p.id, &[]).unwrap();
    assert!(
        apps.mimeis()
            .db_get(&apps.user, &a.data, VersionRef::Cur, "k")
            .unwrap()
            .is_some()
    );
    apps.uninstall(&p.id, false).unwrap();
    assert!(
        apps.mimeis()
            .db_get(&apps.user, &a.data, VersionRef::Cur, "k")
            .unwrap()
            .is_none()
    );
    assert!(apps.list().unwrap().is_empty());
}

#[test]
fn launch_codes_work_once_for_their_app() {
    let (dir, apps) = setup();
    let a = apps.publish(&bundle(dir.path(), "a", "1", &[])).unwrap().id;
    let b = apps.publish(&bundle(dir.path(), "b", "1", &[])).unwrap().id;
    apps.install(&a, &[]).unwrap();
    apps.install(&b, &[]).unwrap();
    let code = apps.launch(&a).unwrap();
    assert!(matches!(
        apps.redeem(&b, &code),
        Err(AppError::BadLaunchCode)
    ));
    // The failed attempt used the code up.
    assert!(apps.redeem(&a, &code).is_err());
    let code = apps.launch(&a).unwrap();
    let token = apps.redeem(&a, &code).unwrap();
    assert!(apps.redeem(&a, &code).is_err());
    assert_eq!(apps.session(&a, &token).unwrap().unwrap().id, a);
    assert!(apps.session(&b, &token).unwrap().is_none());
    assert!(apps.session(&a, "made-up").unwrap().is_none());
    apps.uninstall(&a, true).unwrap();
    assert!(apps.session(&a, &token).unwrap().is_none());
}

#[test]
fn bad_manifests_are_refused() {
    let (dir, apps) = setup();
    for (m, why) in [
        (r#"{"name":"Bad Name","version":"1"}"#, "name"),
        (r#"{"name":"x","version":""}"#, "version"),
        (
            r#"{"name":"x","version":"1","permissions":["root"]}"#,
            "unknown variant `root`",
        ),
        (r#"{"name":"x","version":"1","entry":"../x"}"#, ".."),
        (r#"{"name":"x","version":"1","extra":1}"#, "unknown field"),
    ] {
        let d = dir.path().join("b");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(MANIFEST_FILE), m).unwrap();
        std::fs::write(d.join("index.html"), "x").unwrap();
        let e = apps.publish(&d).unwrap_err().to_string();
        assert!(e.contains(why), "{m}: {e}");
    }
    let d = dir.path().join("noentry");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(MANIFEST_FILE), r#"{"name":"x","version":"1"}"#).unwrap();
    assert!(
        apps.publish(&d)
            .unwrap_err()
            .to_string()
            .contains("index.html")
    );
}

#[test]
fn tasks_run_when_due_within_limits() {
    let (dir, apps) = setup();
    let id = apps.publish(&bundle(dir.path(), "t", "1", &[])).unwrap().id;
    let a = apps.install(&id, &[]).unwrap();
    let put = |k: &str, v: &str| TaskOp::DbPut {
        key: k.into(),
        value: v.into(),
    };

    let once = apps
        .schedule(
            &id,
            NewTask {
                ops: vec![put("ran", "$now"), put("x", "y")],
                delay_secs: Some(1),
                every_secs: None,
            },
        )
        .unwrap();
    let every = apps
        .schedule(
            &id,
            NewTask {
                ops: vec![put("tick", "$now")],
                delay_secs: None,
                every_secs: Some(60),
            },
        )
        .unwrap();
    assert!(matches!(
        apps.schedule(
            &id,
            NewTask {
                ops: vec![put("a", "b")],
                delay_secs: None,
                every_secs: Some(5)
            }
        ),
        Err(AppError::Limit(_))
    ));
    // Nothing is due yet.
    assert_eq!(apps.run_due(now_ms()).unwrap().ran, 0);
    let r = apps.run_due(once.next_run.max(every.next_run)).unwrap();
    assert_eq!(r.ran, 2);
    let v = apps
        .mimeis()
        .db_get(&apps.user, &a.data, VersionRef::Cur, "ran")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8(v).unwrap().parse::<u64>().unwrap() > 0);
    // The one-shot task is gone, the repeating one remains.
    let left = apps.tasks(&id).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, every.id);
    assert_eq!(left[0].runs, 1);
    for _ in 0..(MAX_TASKS_PER_APP - 1) {
        apps.schedule(
            &id,
            NewTask {
                ops: vec![put("a", "b")],
                delay_secs: Some(100),
                every_secs: None,
            },
        )
        .unwrap();
    }
    assert!(matches!(
        apps.schedule(
            &id,
            NewTask {
                ops: vec![put("a", "b")],
                delay_secs: Some(100),
                every_secs: None
            }
        ),
        Err(AppError::Limit(_))
    ));
    apps.cancel(&id, &every.id).unwrap();
    assert!(apps.cancel(&id, &every.id).is_err());
}
