//! The README's first session, through the `leither` binary (issue 2 "done when"),
//! both with the node opened in-process and through a running node.

mod common;

use common::{NodeProc, cli, cli_fails};
use serde_json::Value;

fn json(dir: &std::path::Path, args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    serde_json::from_str(&cli(dir, &a)).expect("JSON output")
}

fn first_session(data: &std::path::Path, album: &std::path::Path) {
    std::fs::create_dir_all(album.join("sub")).unwrap();
    std::fs::write(album.join("a.txt"), "hello\n").unwrap();
    std::fs::write(album.join("sub/b.txt"), "bee\n").unwrap();

    let id = cli(
        data,
        &[
            "mimei",
            "create",
            "album",
            "--import",
            album.to_str().unwrap(),
        ],
    )
    .trim()
    .to_string();
    let ls = cli(data, &["mimei", "ls", &id, "-r"]);
    assert!(ls.contains("a.txt") && ls.contains("sub/b.txt"), "{ls}");
    let v0 = json(data, &["mimei", "backup", &id, "-m", "first"]);
    assert_eq!(v0["number"], 0);

    std::fs::write(album.join("a.txt"), "changed\n").unwrap();
    let imp = json(data, &["mimei", "import", &id, album.to_str().unwrap()]);
    assert_eq!(
        (imp["changed"].as_u64(), imp["new_bytes"].as_u64()),
        (Some(1), Some(8))
    );
    let diff = cli(data, &["mimei", "diff", &id]);
    assert_eq!(diff.trim(), "M a.txt");
    cli(data, &["mimei", "backup", &id, "-m", "second"]);

    assert_eq!(
        cli(data, &["mimei", "get", &format!("{id}@0"), "a.txt"]),
        "hello\n"
    );
    assert_eq!(
        cli(data, &["mimei", "get", &format!("{id}@last"), "a.txt"]),
        "changed\n"
    );
    let heads = json(data, &["mimei", "release", &format!("{id}@0")]);
    assert_eq!(heads["release"], 0);
    let log = cli(data, &["mimei", "log", &id]);
    assert!(
        log.contains("0 (release)") && log.contains("1 (last)"),
        "{log}"
    );
    let fork = cli(
        data,
        &["mimei", "fork", &format!("{id}@release"), "album-fork"],
    )
    .trim()
    .to_string();
    assert_eq!(cli(data, &["mimei", "get", &fork, "a.txt"]), "hello\n");
    let info = json(data, &["mimei", "info", &fork]);
    assert_eq!(info["info"]["origin"]["mimei"], id.as_str());
    assert!(cli(data, &["mimei", "verify", &id]).contains("all intact"));

    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("v0");
    cli(
        data,
        &[
            "mimei",
            "export",
            &format!("{id}@0"),
            dest.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("a.txt")).unwrap(),
        "hello\n"
    );

    // Errors are clear, with the stable code.
    let (_, err) = cli_fails(data, &["mimei", "get", &format!("{id}@9"), "a.txt"]);
    assert!(err.contains("no_such_version"), "{err}");
    let (stdout, _) = cli_fails(data, &["--json", "mimei", "put", &id, "../x", "-"]);
    assert!(stdout.contains("\"invalid_path\""), "{stdout}");
}

#[test]
fn first_session_without_a_running_node() {
    let data = tempfile::tempdir().unwrap();
    let album = tempfile::tempdir().unwrap();
    let init = json(data.path(), &["init", "--keys", "file"]);
    assert_eq!(
        init["recovery_phrase"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        24
    );
    first_session(data.path(), album.path());
}

#[tokio::test(flavor = "multi_thread")]
async fn first_session_through_a_running_node() {
    let data = tempfile::tempdir().unwrap();
    let album = tempfile::tempdir().unwrap();
    let node = NodeProc::start(data.path()).await;
    let (d, a) = (data.path().to_path_buf(), album.path().to_path_buf());
    tokio::task::spawn_blocking(move || first_session(&d, &a))
        .await
        .unwrap();
    let st = json(data.path(), &["status"]);
    // The two of the session, plus the user's own profile, social, orgs and courier
    // Mimei that the people service keeps on a running node (no apps registry: it is
    // made only when an app is installed).
    assert_eq!(st["mimei_count"], 2 + 4);

    drop(node);
}

#[test]
fn recovery_phrase_restores_the_user_on_a_new_device() {
    let laptop = tempfile::tempdir().unwrap();
    let init = json(laptop.path(), &["init", "--keys", "file"]);
    let phrase = cli(laptop.path(), &["identity", "phrase"]);
    assert_eq!(phrase.trim(), init["recovery_phrase"].as_str().unwrap());

    let phrase_file = laptop.path().join("phrase.txt");
    std::fs::write(&phrase_file, &phrase).unwrap();
    let desktop = tempfile::tempdir().unwrap();
    let rec = json(
        desktop.path(),
        &[
            "init",
            "--keys",
            "file",
            "--recover",
            "--phrase-file",
            phrase_file.to_str().unwrap(),
        ],
    );
    assert_eq!(rec["user"], init["user"], "same user");
    assert_ne!(rec["node"], init["node"], "a new device");

    std::fs::write(&phrase_file, "abandon abandon abandon").unwrap();
    let other = tempfile::tempdir().unwrap();
    let (_, err) = cli_fails(
        other.path(),
        &[
            "init",
            "--recover",
            "--phrase-file",
            phrase_file.to_str().unwrap(),
        ],
    );
    assert!(err.contains("24 words"), "{err}");
    assert!(
        !other.path().join("identity.json").exists(),
        "nothing half-made"
    );
}

#[test]
fn wrong_passphrase_is_refused() {
    let data = tempfile::tempdir().unwrap();
    cli(data.path(), &["init", "--keys", "file"]);
    let out = common::leither(data.path())
        .env("LEITHER_PASSPHRASE", "not it")
        .args(["identity", "phrase"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));
}
