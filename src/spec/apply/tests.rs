//! Merging a loaded config into the running spec: ids kept, added appended, removed retired.

use crate::spec::{
    ApplyChange, CommandSpec, Dependency, DependencyCondition, Instances, ServiceSpec, merge,
};
use crate::test_support::{project_spec, service_spec};

fn depends_on(name: &str, dependency: usize) -> ServiceSpec {
    ServiceSpec {
        depends_on: vec![Dependency {
            service: dependency,
            condition: DependencyCondition::Ready,
            restart: false,
        }],
        ..service_spec(name)
    }
}

#[test]
fn every_service_keeps_its_id_and_new_ones_follow() {
    let running = project_spec(vec![
        service_spec("db"),
        service_spec("old"),
        depends_on("web", 0),
    ]);
    // Another order; `web` now also depends on the new `cache`.
    let mut web = depends_on("web", 2);
    web.depends_on.push(Dependency {
        service: 1,
        condition: DependencyCondition::Started,
        restart: false,
    });
    let loaded = project_spec(vec![web, service_spec("cache"), service_spec("db")]);
    let merged = merge(&running, &loaded).expect("the same sockets");
    let names: Vec<&str> = merged
        .spec
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["db", "old", "web", "cache"]);
    assert_eq!(merged.spec.retired.iter().copied().collect::<Vec<_>>(), [1]);
    let targets: Vec<usize> = merged.spec.services[2]
        .depends_on
        .iter()
        .map(|dependency| dependency.service)
        .collect();
    assert_eq!(targets, [0, 3], "renumbered into the merged ids");
    assert_eq!(merged.spec.service_id("old"), None);
    assert_eq!(merged.spec.service_id("cache"), Some(3));
    assert_eq!(
        merged.changes,
        [
            ApplyChange::Change {
                service: 2,
                instances: false,
                schedule: false,
                replace: true
            },
            ApplyChange::Add(3),
            ApplyChange::Remove(1),
        ]
    );
}

#[test]
fn a_removed_service_added_again_takes_its_id_back() {
    let running = project_spec(vec![service_spec("db"), service_spec("web")]);
    let without_db = merge(&running, &project_spec(vec![service_spec("web")]))
        .expect("the same sockets")
        .spec;
    assert!(without_db.retired.contains(&0));
    let mut db = service_spec("db");
    db.command = CommandSpec {
        argv: vec!["db2".into()],
        shell: false,
    };
    let again =
        merge(&without_db, &project_spec(vec![service_spec("web"), db])).expect("the same sockets");
    assert!(again.spec.retired.is_empty());
    assert_eq!(again.spec.services.len(), 2);
    assert_eq!(again.spec.services[0].command.argv, ["db2"]);
    assert_eq!(again.changes, [ApplyChange::Add(0)]);
}

#[test]
fn only_instances_is_a_scale_not_a_replacement() {
    let running = project_spec(vec![service_spec("web")]);
    let loaded = project_spec(vec![ServiceSpec {
        instances: Instances::Count(3),
        ..service_spec("web")
    }]);
    let merged = merge(&running, &loaded).expect("the same sockets");
    assert_eq!(
        merged.changes,
        [ApplyChange::Change {
            service: 0,
            instances: true,
            schedule: false,
            replace: false
        }]
    );
}

#[test]
fn settings_that_need_a_restart_keep_their_running_values() {
    let running = project_spec(vec![service_spec("web")]);
    let mut loaded = (*running).clone();
    loaded.logs.keep_files += 1;
    loaded.monitor.interval *= 2;
    let merged = merge(&running, &loaded).expect("the same sockets");
    assert_eq!(merged.spec.logs, running.logs);
    assert_eq!(merged.spec.monitor, loaded.monitor);
    assert!(merged.changes.is_empty());
}

#[test]
fn other_sockets_cannot_be_merged() {
    use crate::spec::{ListenAddress, SocketSpec};
    let running = project_spec(vec![service_spec("web")]);
    let mut loaded = (*running).clone();
    loaded.sockets.push(SocketSpec {
        name: "http".into(),
        listen: ListenAddress::Tcp("127.0.0.1:8080".parse().expect("an address")),
    });
    assert!(merge(&running, &loaded).is_none());
}
