//! Tests of [`Identity`] with the file backend (the keyring backend is exercised for
//! real in `tests/identity_keyring.rs`, under its own D-Bus session).

use super::*;

fn options() -> IdentityOptions {
    IdentityOptions {
        backend: KeyBackend::File,
        device_name: "test box".into(),
        kdf: KdfParams::INSECURE_FAST_FOR_TESTS,
    }
}

fn pw(p: &'static str) -> impl FnOnce(PassphrasePurpose) -> Result<Passphrase, IdentityError> {
    move |_| Ok(Passphrase::from(p))
}

fn never(_: PassphrasePurpose) -> Result<Passphrase, IdentityError> {
    panic!("the passphrase must not be asked for here")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every byte form of the secrets we might accidentally write.
fn secret_forms(id: &Identity) -> Vec<Vec<u8>> {
    let entropy = *id.recovery_phrase().entropy();
    let node = *id.node_secret_key_bytes();
    let user = *id.user_keypair().secret_bytes();
    let mut forms = Vec::new();
    for s in [entropy, node, user] {
        forms.push(s.to_vec());
        forms.push(crate::encoding::encode(&s).into_bytes());
        forms.push(
            s.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into_bytes(),
        );
    }
    forms.push(id.recovery_phrase().show().as_bytes().to_vec());
    forms
}

fn assert_no_secret_on_disk(dir: &Path, id: &Identity) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for form in secret_forms(id) {
            assert!(
                !contains(&bytes, &form),
                "a secret is readable in {}",
                path.display()
            );
        }
    }
}

#[test]
fn create_then_load_with_the_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let (id, phrase) = Identity::create(dir.path(), &options(), |purpose| {
        assert_eq!(purpose, PassphrasePurpose::New);
        Ok("pw".into())
    })
    .unwrap();
    assert_eq!(id.backend(), BackendKind::File);
    assert_eq!(phrase.user_id(), id.user_id());
    assert_eq!(id.recovery_phrase().show(), phrase.show());
    assert_eq!(id.account_id(), AccountId::of(&id.user_id()));
    id.device_cert()
        .verify_for(&id.user_id(), &id.node_id())
        .unwrap();
    assert!(Identity::exists(dir.path()));
    assert!(dir.path().join(KEY_FILE_NAME).exists());
    assert_no_secret_on_disk(dir.path(), &id);

    let loaded = Identity::load(dir.path(), |purpose| {
        assert_eq!(purpose, PassphrasePurpose::Unlock);
        Ok("pw".into())
    })
    .unwrap();
    assert_eq!(loaded.public(), id.public());
    assert_eq!(loaded.recovery_phrase().show(), phrase.show());
    assert_eq!(*loaded.node_secret_key_bytes(), *id.node_secret_key_bytes());
    // The keys really work: a signature by the loaded user key verifies as the user.
    let sig = loaded.user_keypair().sign(b"m");
    verify(&id.user_id(), b"m", &sig).unwrap();
}

#[test]
fn public_identity_is_readable_without_unlocking() {
    let dir = tempfile::tempdir().unwrap();
    let (id, _) = Identity::create(dir.path(), &options(), pw("pw")).unwrap();
    let public = Identity::read_public(dir.path()).unwrap();
    assert_eq!(public, id.public());
    assert_eq!(public.backend, BackendKind::File);
    let json = serde_json::to_string(&public).unwrap();
    assert!(
        json.contains(&id.user_id().to_string()) && json.contains("\"file\""),
        "{json}"
    );
}

#[test]
fn wrong_passphrase_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    Identity::create(dir.path(), &options(), pw("right")).unwrap();
    let err = Identity::load(dir.path(), pw("wrong")).unwrap_err();
    assert!(
        matches!(err, IdentityError::WrongPassphrase { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("wrong passphrase"));
    // A provider that cannot supply one (no prompt, no env var) says so.
    let err = Identity::load(dir.path(), |_| {
        Err(IdentityError::PassphraseUnavailable(
            "LEITHER_PASSPHRASE is not set".into(),
        ))
    })
    .unwrap_err();
    assert!(err.to_string().contains("LEITHER_PASSPHRASE"));
}

#[test]
fn the_same_phrase_recovers_the_same_user_as_a_new_device() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (first, phrase) = Identity::create(a.path(), &options(), pw("pw")).unwrap();

    // The user types the phrase on another machine.
    let typed = RecoveryPhrase::parse(&phrase.show()).unwrap();
    let second = Identity::recover(b.path(), &typed, &options(), pw("other")).unwrap();
    assert_eq!(second.user_id(), first.user_id());
    assert_eq!(second.account_id(), first.account_id());
    assert_ne!(
        second.node_id(),
        first.node_id(),
        "a recovered node is a new device"
    );
    // Each device is provably the user's.
    second
        .device_cert()
        .verify_for(&first.user_id(), &second.node_id())
        .unwrap();
    first
        .device_cert()
        .verify_for(&second.user_id(), &first.node_id())
        .unwrap();
    // And survives a reload.
    let again = Identity::load(b.path(), pw("other")).unwrap();
    assert_eq!(again.user_id(), first.user_id());
}

#[test]
fn an_existing_identity_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (id, _) = Identity::create(dir.path(), &options(), pw("pw")).unwrap();
    let before = std::fs::read(dir.path().join(KEY_FILE_NAME)).unwrap();
    let err = Identity::create(dir.path(), &options(), never).unwrap_err();
    assert!(matches!(err, IdentityError::AlreadyExists { .. }), "{err}");
    let phrase = RecoveryPhrase::generate().unwrap();
    let err = Identity::recover(dir.path(), &phrase, &options(), never).unwrap_err();
    assert!(matches!(err, IdentityError::AlreadyExists { .. }));
    // A lone keys.enc (identity.json lost) is also protected.
    std::fs::remove_file(dir.path().join(IDENTITY_FILE_NAME)).unwrap();
    let err = Identity::create(dir.path(), &options(), never).unwrap_err();
    assert!(matches!(err, IdentityError::AlreadyExists { .. }));
    assert_eq!(
        std::fs::read(dir.path().join(KEY_FILE_NAME)).unwrap(),
        before
    );
    drop(id);
}

#[test]
fn a_failed_create_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let err = Identity::create(&data, &options(), |_| {
        Err(IdentityError::PassphraseUnavailable("no terminal".into()))
    })
    .unwrap_err();
    assert!(matches!(err, IdentityError::PassphraseUnavailable(_)));
    assert!(!Identity::exists(&data));
    assert!(!data.join(KEY_FILE_NAME).exists());

    let mut bad = options();
    bad.device_name = "\u{1b}[31m".into();
    let err = Identity::create(&data, &bad, never).unwrap_err();
    assert!(matches!(err, IdentityError::InvalidDeviceName(_)));
    assert!(!Identity::exists(&data));

    // identity.json cannot be written (a directory is in the way of its temp file):
    // the key file just stored is removed again.
    std::fs::create_dir(data.join(keyfile::tests::temp_name(IDENTITY_FILE_NAME))).unwrap();
    let err = Identity::create(&data, &options(), pw("pw")).unwrap_err();
    assert!(matches!(err, IdentityError::Io { .. }), "{err}");
    assert!(!data.join(KEY_FILE_NAME).exists());
    assert!(!Identity::exists(&data));
}

#[test]
fn load_without_identity_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let err = Identity::load(dir.path(), never).unwrap_err();
    assert!(matches!(err, IdentityError::NoIdentity { .. }), "{err}");
    let err = Identity::read_public(dir.path()).unwrap_err();
    assert!(matches!(err, IdentityError::NoIdentity { .. }));
}

#[test]
fn edited_identity_json_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_id, _) = Identity::create(dir.path(), &options(), pw("pw")).unwrap();
    let path = dir.path().join(IDENTITY_FILE_NAME);
    let original = std::fs::read_to_string(&path).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&original).unwrap();

    // Claim another node: the device certificate no longer matches.
    let stranger = NodeId::from_public_key(Keypair::generate().unwrap().public_key());
    json["node"] = serde_json::Value::String(stranger.to_string());
    std::fs::write(&path, json.to_string()).unwrap();
    let err = Identity::read_public(dir.path()).unwrap_err();
    assert!(
        matches!(err, IdentityError::IdentityFileCorrupt { .. }),
        "{err}"
    );
    assert!(Identity::load(dir.path(), never).is_err());

    std::fs::write(&path, &original[..original.len() / 2]).unwrap();
    let err = Identity::read_public(dir.path()).unwrap_err();
    assert!(
        matches!(err, IdentityError::IdentityFileCorrupt { .. }),
        "{err}"
    );
}

#[test]
fn secrets_of_another_identity_are_refused() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    Identity::create(a.path(), &options(), pw("pw")).unwrap();
    Identity::create(b.path(), &options(), pw("pw")).unwrap();
    // Swap in b's key file under a's identity.json.
    std::fs::copy(b.path().join(KEY_FILE_NAME), a.path().join(KEY_FILE_NAME)).unwrap();
    let err = Identity::load(a.path(), pw("pw")).unwrap_err();
    assert!(
        matches!(err, IdentityError::SecretsMismatch { .. }),
        "{err}"
    );
}

#[test]
fn debug_output_shows_ids_only() {
    let dir = tempfile::tempdir().unwrap();
    let (id, _) = Identity::create(dir.path(), &options(), pw("pw")).unwrap();
    let shown = format!("{id:?} {:?} {:?}", id.user_keypair(), id.recovery_phrase()).into_bytes();
    assert!(contains(&shown, id.user_id().to_string().as_bytes()));
    for form in secret_forms(&id) {
        assert!(!contains(&shown, &form));
    }
}

#[test]
fn identity_can_be_shared_across_tasks() {
    // The node keeps one `Arc<Identity>` and signs from many tasks.
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Identity>();
    send_sync::<PublicIdentity>();
    send_sync::<Signed<DeviceCert>>();
}
