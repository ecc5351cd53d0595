//! The exports of small projects built in code, checked for what each mapping promises; the
//! writing of files against real directories. Whole outputs of real configs are compared with
//! golden files in `tests/export.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::spec::{
    CommandSpec, Dependency, DependencyCondition, ProjectSpec, ReadyCheck, ReadyProbe,
    RestartPolicy, RestartSpec, ServiceSpec,
};
use crate::test_support::{project_spec, service_spec};

/// A service that runs `sleep 1000` in `/srv/app`, restarted on failure with 200 ms to 30 s of
/// backoff (wrangle's defaults).
pub(super) fn service(name: &str) -> ServiceSpec {
    let base = service_spec(name);
    ServiceSpec {
        command: CommandSpec {
            argv: vec!["sleep".to_string(), "1000".to_string()],
            shell: false,
        },
        cwd: PathBuf::from("/srv/app"),
        restart: RestartSpec {
            policy: RestartPolicy::OnFailure,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            ..base.restart
        },
        ..base
    }
}

pub(super) fn project(services: Vec<ServiceSpec>) -> ProjectSpec {
    let base = project_spec(services);
    ProjectSpec {
        source: PathBuf::from("/srv/app/wrangle.toml"),
        root: PathBuf::from("/srv/app"),
        ..Arc::unwrap_or_clone(base)
    }
}

pub(super) fn depends(service: usize, condition: DependencyCondition) -> Dependency {
    Dependency {
        service,
        condition,
        restart: false,
    }
}

pub(super) fn probe(check: ReadyCheck) -> Option<ReadyProbe> {
    Some(ReadyProbe {
        check,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(60),
        recheck: None,
        per_instance: false,
    })
}

fn text_of(export: &crate::export::Export, name: &str) -> String {
    export
        .files
        .iter()
        .find(|file| file.name == name)
        .unwrap_or_else(|| panic!("no file {name} in {:?}", export.files))
        .text
        .clone()
}

fn options(image: Option<&str>) -> Options {
    Options {
        image: image.map(String::from),
        name: None,
    }
}

use crate::export::{Options, compose, kubernetes, systemd};

#[test]
fn systemd_maps_readiness_and_completion_to_unit_types() {
    let mut db = service("db");
    db.ready = probe(ReadyCheck::Notify);
    let mut migrate = service("migrate");
    migrate.restart.policy = RestartPolicy::Always;
    migrate.depends_on = vec![depends(0, DependencyCondition::Ready)];
    let mut api = service("api");
    api.restart.policy = RestartPolicy::Never;
    api.depends_on = vec![
        depends(0, DependencyCondition::Ready),
        depends(1, DependencyCondition::Completed),
    ];
    let export = systemd(&project(vec![db, migrate, api]), &options(None)).expect("exported");
    let names: Vec<&str> = export.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "app-db.service",
            "app-migrate.service",
            "app-api.service",
            "app.target"
        ]
    );
    let db = text_of(&export, "app-db.service");
    for line in ["Type=notify", "NotifyAccess=all", "TimeoutStartSec=60s"] {
        assert!(db.lines().any(|l| l == line), "{line} in\n{db}");
    }
    let migrate = text_of(&export, "app-migrate.service");
    for line in [
        "Type=oneshot",
        "RemainAfterExit=yes",
        "TimeoutStartSec=infinity",
        "Restart=on-failure",
        "Requires=app-db.service",
        "After=app-db.service",
    ] {
        assert!(migrate.lines().any(|l| l == line), "{line} in\n{migrate}");
    }
    assert!(
        migrate.contains("# restart = \"always\": a oneshot unit"),
        "{migrate}"
    );
    let api = text_of(&export, "app-api.service");
    assert!(api.lines().any(|l| l == "Restart=no"), "{api}");
    assert!(
        !api.contains("StartLimitBurst"),
        "no restart, no start limit:\n{api}"
    );
    assert!(
        !api.contains("readiness check passes"),
        "db's notify is exact:\n{api}"
    );
    let target = text_of(&export, "app.target");
    assert!(target.contains("Wants=app-api.service\n"), "{target}");
}

#[test]
fn systemd_refuses_unit_names_longer_than_systemd_allows() {
    let long = "x".repeat(200);
    let error = systemd(
        &project(vec![service(&long)]),
        &Options {
            image: None,
            name: Some("y".repeat(60)),
        },
    )
    .expect_err("too long");
    assert_eq!(error.problems.len(), 1, "{error}");
    assert!(
        error
            .to_string()
            .contains("longer than systemd's 255 bytes"),
        "{error}"
    );
}

#[test]
fn kubernetes_names_that_collide_and_missing_images_are_all_reported() {
    let mut named = service("with_image");
    named.kubernetes.image = Some("app:1".to_string());
    let error = kubernetes(
        &project(vec![service("a_b"), service("A.b"), named]),
        &options(None),
        true,
    )
    .expect_err("two problems");
    let text = error.to_string();
    assert!(
        text.contains("services \"a_b\" and \"A.b\" would both be named \"a-b\""),
        "{text}"
    );
    assert!(text.contains("service \"a_b\" has no image"), "{text}");
    assert!(!text.contains("\"with_image\" has no image"), "{text}");
}

#[test]
fn kubernetes_runs_completed_dependencies_as_init_containers_in_order() {
    let first = service("first");
    let mut second = service("second");
    second.depends_on = vec![depends(0, DependencyCondition::Completed)];
    let mut app = service("app");
    app.command.argv = vec!["echo".to_string(), "$(HOME) $PATH".to_string()];
    app.depends_on = vec![depends(1, DependencyCondition::Completed)];
    let export = kubernetes(
        &project(vec![first, second, app]),
        &options(Some("img:1")),
        false,
    )
    .expect("exported");
    let names: Vec<&str> = export.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["app.yaml"],
        "init-only services without env have no file"
    );
    let app = text_of(&export, "app.yaml");
    let first_at = app.find("- name: first").expect("first");
    let second_at = app.find("- name: second").expect("second");
    let containers_at = app.find("containers:\n        - name: app").expect("app");
    assert!(first_at < second_at && second_at < containers_at, "{app}");
    assert!(
        app.contains("command: [echo, \"$$(HOME) $$PATH\"]"),
        "{app}"
    );
}

#[test]
fn compose_waits_for_health_only_where_there_is_a_healthcheck() {
    let plain = service("plain");
    let mut logged = service("logged");
    logged.ready = probe(ReadyCheck::Log {
        pattern: regex::Regex::new("up").expect("regex"),
    });
    let mut checked = service("checked");
    checked.ready = probe(ReadyCheck::Exec {
        command: CommandSpec {
            argv: vec!["check".to_string(), "$X".to_string()],
            shell: false,
        },
    });
    let mut app = service("app");
    app.env.insert("PRICE".to_string(), "$5".to_string());
    app.depends_on = vec![
        depends(0, DependencyCondition::Ready),
        depends(1, DependencyCondition::Ready),
        Dependency {
            restart: true,
            ..depends(2, DependencyCondition::Ready)
        },
    ];
    let export = compose(
        &project(vec![plain, logged, checked, app]),
        &options(Some("img:$TAG")),
    )
    .expect("exported");
    let text = text_of(&export, "compose.yaml");
    assert!(text.contains("image: \"img:$$TAG\""), "{text}");
    assert!(text.contains("PRICE: \"$$5\""), "{text}");
    assert!(text.contains("test: [CMD, check, \"$$X\"]"), "{text}");
    assert!(
        text.contains(
            "    depends_on:\n      plain:\n        condition: service_started\n      logged:\n        condition: service_started\n      checked:\n        condition: service_healthy\n        restart: true\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("# depends_on logged = \"ready\": logged has no healthcheck"),
        "{text}"
    );
}

#[test]
fn every_export_opens_with_the_marker_and_names_its_source() {
    let spec = project(vec![service("a")]);
    let exports = [
        systemd(&spec, &options(None)).expect("systemd"),
        kubernetes(&spec, &options(Some("i")), false).expect("kubernetes"),
        compose(&spec, &options(Some("i"))).expect("compose"),
    ];
    for export in exports {
        for file in &export.files {
            let first = file.text.lines().next().expect("a first line");
            assert_eq!(
                first,
                format!(
                    "{}{}` from /srv/app/wrangle.toml.",
                    crate::export::MARKER,
                    export.format.name()
                )
            );
        }
        assert!(!export.copies_env_files);
    }
}

mod files {
    //! Writing against real directories.

    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use tempfile::TempDir;

    use crate::export::{Export, Format, OutputFile, WriteError, write_into_dir, write_to_file};

    fn export(files: &[(&str, &str)]) -> Export {
        Export {
            format: Format::Systemd,
            files: files
                .iter()
                .map(|(name, body)| OutputFile {
                    name: name.to_string(),
                    text: format!(
                        "{}systemd` from /p/wrangle.toml.\n{body}\n",
                        crate::export::MARKER
                    ),
                })
                .collect(),
            notes: 0,
            copies_env_files: false,
        }
    }

    fn refusals(error: WriteError) -> Vec<String> {
        match error {
            WriteError::Refused(refusals) => refusals
                .into_iter()
                .map(|refusal| format!("{}: {}", refusal.path.display(), refusal.why))
                .collect(),
            other => panic!("expected refusals, got {other}"),
        }
    }

    #[test]
    fn a_missing_directory_is_created_and_files_are_written_then_left_unchanged() {
        let temp = TempDir::new().expect("tempdir");
        let dir = temp.path().join("a/b");
        let first = export(&[("x.service", "one"), ("y.target", "two")]);
        let report = write_into_dir(&dir, &first, false).expect("written");
        assert_eq!(
            report.written,
            [dir.join("x.service"), dir.join("y.target")]
        );
        assert_eq!(
            fs::read_to_string(dir.join("x.service")).expect("read"),
            first.files[0].text
        );
        let report = write_into_dir(&dir, &first, false).expect("again");
        assert!(report.written.is_empty());
        assert_eq!(report.unchanged.len(), 2);
        let changed = export(&[("x.service", "three"), ("y.target", "two")]);
        let report = write_into_dir(&dir, &changed, false).expect("changed");
        assert_eq!(report.written, [dir.join("x.service")]);
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .filter(|name| name.to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn one_refusal_stops_every_write_and_force_replaces() {
        let temp = TempDir::new().expect("tempdir");
        let dir = temp.path();
        fs::write(dir.join("b.service"), "mine\n").expect("write");
        let files = export(&[("a.service", "new"), ("b.service", "new")]);
        let error = write_into_dir(dir, &files, false).expect_err("refused");
        assert_eq!(
            refusals(error),
            [format!(
                "{}: a file that wrangle export did not write; use --force to replace it",
                dir.join("b.service").display()
            )]
        );
        assert!(!dir.join("a.service").exists(), "nothing is written");
        write_into_dir(dir, &files, true).expect("forced");
        assert_eq!(
            fs::read_to_string(dir.join("b.service")).expect("read"),
            files.files[1].text
        );
    }

    #[test]
    fn links_are_replaced_never_followed_and_directories_never_replaced() {
        let temp = TempDir::new().expect("tempdir");
        let dir = temp.path().join("out");
        fs::create_dir(&dir).expect("mkdir");
        let victim = temp.path().join("victim");
        fs::write(&victim, "precious").expect("write");
        std::os::unix::fs::symlink(&victim, dir.join("a.service")).expect("symlink");
        // A dangling link: following it would create the file it names.
        std::os::unix::fs::symlink(temp.path().join("created"), dir.join("b.service"))
            .expect("symlink");
        fs::create_dir(dir.join("c.service")).expect("mkdir");
        let files = export(&[("a.service", "x"), ("b.service", "y"), ("c.service", "z")]);
        let found = refusals(write_into_dir(&dir, &files, false).expect_err("refused"));
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].contains("a symbolic link (not followed"),
            "{found:?}"
        );
        assert!(found[2].ends_with("a directory is in the way"), "{found:?}");
        let found = refusals(write_into_dir(&dir, &files, true).expect_err("directory"));
        assert_eq!(
            found.len(),
            1,
            "--force does not remove a directory: {found:?}"
        );
        let files = export(&[("a.service", "x"), ("b.service", "y")]);
        write_into_dir(&dir, &files, true).expect("forced");
        assert_eq!(fs::read_to_string(&victim).expect("read"), "precious");
        assert!(!temp.path().join("created").exists());
        assert!(
            fs::symlink_metadata(dir.join("a.service"))
                .expect("stat")
                .is_file()
        );
    }

    #[test]
    fn stale_files_of_the_same_export_are_reported_not_removed() {
        let temp = TempDir::new().expect("tempdir");
        let dir = temp.path();
        write_into_dir(
            dir,
            &export(&[("a.service", "1"), ("b.service", "2")]),
            false,
        )
        .expect("first");
        // Written by an export of another project: not ours to mention.
        fs::write(
            dir.join("other.service"),
            format!(
                "{}systemd` from /elsewhere/wrangle.toml.\n",
                crate::export::MARKER
            ),
        )
        .expect("write");
        fs::write(dir.join("notes.txt"), "unrelated").expect("write");
        let report = write_into_dir(dir, &export(&[("a.service", "1")]), false).expect("second");
        assert_eq!(report.stale, [dir.join("b.service")]);
        assert!(dir.join("b.service").exists());
    }

    #[test]
    fn private_exports_are_written_owner_only() {
        let temp = TempDir::new().expect("tempdir");
        let mut files = export(&[("a.service", "secret")]);
        files.copies_env_files = true;
        write_into_dir(temp.path(), &files, false).expect("written");
        let mode = fs::metadata(temp.path().join("a.service"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_single_file_goes_to_an_existing_directory_only() {
        let temp = TempDir::new().expect("tempdir");
        let files = Export {
            format: Format::Compose,
            ..export(&[("compose.yaml", "services: {}")])
        };
        let path = temp.path().join("deploy.yml");
        let report = write_to_file(&path, &files, false).expect("written");
        assert_eq!(report.written, std::slice::from_ref(&path));
        assert_eq!(
            fs::read_to_string(&path).expect("read"),
            files.files[0].text
        );
        let error = write_to_file(&temp.path().join("missing/deploy.yml"), &files, false)
            .expect_err("no directory");
        assert!(error.to_string().contains("missing"), "{error}");
    }

    #[test]
    fn a_directory_another_user_could_swap_files_in_is_refused() {
        let temp = TempDir::new().expect("tempdir");
        let open = temp.path().join("open");
        fs::create_dir(&open).expect("mkdir");
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).expect("chmod");
        let files = export(&[("a.service", "x")]);
        let error = write_into_dir(&open, &files, true).expect_err("refused");
        assert!(error.to_string().contains("anyone can write"), "{error}");
        // With the sticky bit (as /tmp), others cannot replace our files: accepted.
        fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).expect("chmod");
        write_into_dir(&open, &files, false).expect("sticky is fine");
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped the part about other users' links and directories: not root");
            return;
        }
        let nobody = 65534;
        let theirs = temp.path().join("theirs");
        fs::create_dir(&theirs).expect("mkdir");
        std::os::unix::fs::chown(&theirs, Some(nobody), None).expect("chown");
        let error = write_into_dir(&theirs, &files, true).expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("belongs to another user (uid 65534)"),
            "{error}"
        );
        let link = temp.path().join("link");
        std::os::unix::fs::symlink(temp.path().join("open"), &link).expect("symlink");
        std::os::unix::fs::lchown(&link, Some(nobody), None).expect("lchown");
        let error = write_into_dir(&link, &files, true).expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("a symbolic link that belongs to another user"),
            "{error}"
        );
    }
}

/// Two sockets (one received by nobody) and a service with instances that another depends on.
fn socket_project() -> ProjectSpec {
    use crate::spec::{Instances, ListenAddress, SocketSpec, UnixSocketSpec};
    let mut web = service("web");
    web.sockets = vec![0];
    web.instances = Instances::Count(2);
    let mut client = service("client");
    client.depends_on = vec![depends(0, DependencyCondition::Started)];
    let mut project = project(vec![web, client]);
    project.sockets = vec![
        SocketSpec {
            name: "http".to_string(),
            listen: ListenAddress::Tcp("127.0.0.1:8080".parse().expect("an address")),
        },
        SocketSpec {
            name: "unused".to_string(),
            listen: ListenAddress::Unix(UnixSocketSpec {
                path: PathBuf::from("/srv/app/unused.sock"),
                mode: 0o600,
            }),
        },
    ];
    project
}

#[test]
fn systemd_writes_socket_units_and_a_template_for_instances() {
    let export = systemd(&socket_project(), &options(None)).expect("exported");
    let names: Vec<&str> = export.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "app-web@.service",
            "app-client.service",
            "app-http.socket",
            "app.target"
        ]
    );
    let web = text_of(&export, "app-web@.service");
    for line in [
        "Sockets=app-http.socket",
        "Requires=app-http.socket",
        "Environment=\"WRANGLE_INSTANCE=%i\"",
        "Environment=\"WRANGLE_INSTANCES=2\"",
    ] {
        assert!(web.lines().any(|l| l == line), "{line} in\n{web}");
    }
    let client = text_of(&export, "app-client.service");
    for line in ["Requires=app-web@0.service", "Requires=app-web@1.service"] {
        assert!(client.lines().any(|l| l == line), "{line} in\n{client}");
    }
    let socket = text_of(&export, "app-http.socket");
    for line in [
        "ListenStream=127.0.0.1:8080",
        "FileDescriptorName=http",
        "Service=app-web@0.service",
    ] {
        assert!(socket.lines().any(|l| l == line), "{line} in\n{socket}");
    }
    let target = text_of(&export, "app.target");
    for line in [
        "Wants=app-web@0.service",
        "Wants=app-web@1.service",
        "Wants=app-http.socket",
    ] {
        assert!(target.lines().any(|l| l == line), "{line} in\n{target}");
    }
    assert!(
        target.contains("# Not exported: [sockets] unused, which no service receives."),
        "{target}"
    );
}

#[test]
fn kubernetes_and_compose_run_instances_as_replicas_listening_on_the_socket_port() {
    let project = socket_project();
    let kubernetes = kubernetes(&project, &options(Some("img")), true).expect("exported");
    let text = &kubernetes.files[0].text;
    assert!(text.contains("\n  replicas: 2\n"), "{text}");
    assert!(text.contains("containerPort: 8080"), "{text}");
    assert!(text.contains("LISTEN_FDS is not set"), "{text}");
    let compose = compose(&project, &options(Some("img"))).expect("exported");
    let text = &compose.files[0].text;
    assert!(text.contains("deploy:\n      replicas: 2\n"), "{text}");
    assert!(text.contains("expose: [\"8080\"]\n"), "{text}");
    assert!(!text.contains("127.0.0.1:8080:8080"), "{text}");
}
