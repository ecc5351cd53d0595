//! `Apply`: a new spec with every id kept; the added started after their dependencies, the
//! removed stopped (dependents first) for good, the changed restarted, the others untouched.

use super::*;

#[test]
fn apply_starts_stops_and_restarts_only_what_changed() {
    let running = project(vec![
        service("db", &[], false),
        service("api", &[(0, DependencyCondition::Ready)], false),
        service("old", &[], false),
        service("old-client", &[(2, DependencyCondition::Started)], false),
    ]);
    let mut harness = Harness::new(Arc::clone(&running));
    harness.feed(Input::Start { services: vec![] });
    assert_eq!(harness.spawned_services(), [0, 2, 1, 3]);

    let mut api = service("api", &[(0, DependencyCondition::Ready)], false);
    api.command.argv = vec!["api".into(), "--v2".into()];
    // `cache` depends on `api`, which was ready: it starts at once (as `wrangle start` would).
    let loaded = project(vec![
        service("db", &[], false),
        api,
        service("cache", &[(1, DependencyCondition::Ready)], false),
    ]);
    let merged = crate::spec::merge(&running, &loaded).expect("the same sockets");
    let spec = Arc::new(merged.spec);
    harness.feed(Input::Apply {
        spec: NewSpec(Arc::clone(&spec)),
        changes: merged.changes,
    });
    // `api` restarts; of the removed, the dependent stops first.
    assert!(
        harness.signals.contains(&(1, Signal::TERM)),
        "{:?}",
        harness.signals
    );
    assert!(
        harness.signals.contains(&(3, Signal::TERM)),
        "{:?}",
        harness.signals
    );
    assert!(
        !harness
            .signals
            .iter()
            .any(|(service, _)| *service == 0 || *service == 2)
    );
    assert_eq!(harness.phase(4), Phase::Running);

    harness.exit_tree(3, Exit::Signal(15));
    assert!(
        harness.signals.contains(&(2, Signal::TERM)),
        "{:?}",
        harness.signals
    );
    harness.exit_tree(2, Exit::Signal(15));
    harness.exit_tree(1, Exit::Signal(15));
    // `api` is spawned again (with the new spec); nothing else is.
    assert_eq!(harness.spawned_services(), [0, 2, 1, 3, 4, 1]);
    assert_eq!(harness.phase(0), Phase::Running);
    assert_eq!(harness.phase(2), Phase::Stopped);
    assert_eq!(harness.phase(3), Phase::Stopped);
    assert_eq!(harness.engine.instances(0)[0].generation, 1, "db untouched");

    // `old` comes back: the same id, a fresh instance, a later generation.
    let again = project(vec![
        service("db", &[], false),
        service("api", &[(0, DependencyCondition::Ready)], false),
        service("cache", &[(1, DependencyCondition::Ready)], false),
        service("old", &[], false),
    ]);
    let merged = crate::spec::merge(&spec, &again).expect("the same sockets");
    assert!(merged.changes.contains(&crate::spec::ApplyChange::Add(2)));
    harness.feed(Input::Apply {
        spec: NewSpec(Arc::new(merged.spec)),
        changes: merged.changes,
    });
    assert_eq!(harness.phase(2), Phase::Running);
    assert_eq!(harness.engine.instances(2)[0].generation, 2);
}
