//! The diff of two specs: services by name, keys by what the user writes, secrets masked.

use std::time::Duration;

use crate::spec::secret::MASK;
use crate::spec::{
    CommandSpec, Dependency, DependencyCondition, EnvChange, Instances, ServiceSpec, diff,
};
use crate::test_support::{project_spec, service_spec};

fn with_env(name: &str, env: &[(&str, &str)]) -> ServiceSpec {
    ServiceSpec {
        env: env
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
        ..service_spec(name)
    }
}

#[test]
fn the_same_spec_has_no_difference() {
    let spec = project_spec(vec![service_spec("a"), service_spec("b")]);
    assert!(diff(&spec, &spec).is_empty());
}

#[test]
fn services_are_added_removed_and_changed_by_name_whatever_their_order() {
    let old = project_spec(vec![
        service_spec("db"),
        service_spec("old"),
        service_spec("web"),
    ]);
    let mut web = service_spec("web");
    web.command = CommandSpec {
        argv: vec!["web".into(), "--fast".into()],
        shell: false,
    };
    web.stop.timeout = Duration::from_secs(3);
    let new = project_spec(vec![web, service_spec("worker"), service_spec("db")]);
    let plan = diff(&old, &new);
    assert_eq!(plan.added, ["worker"]);
    assert_eq!(plan.removed, ["old"]);
    assert_eq!(plan.changed.len(), 1, "{plan:?}");
    assert_eq!(plan.changed[0].name, "web");
    assert_eq!(plan.changed[0].keys, ["command", "stop_timeout"]);
    assert!(plan.settings.is_empty());
}

#[test]
fn dependencies_are_compared_by_name_not_by_position() {
    let depends_on_db = |db: usize| ServiceSpec {
        depends_on: vec![Dependency {
            service: db,
            condition: DependencyCondition::Ready,
            restart: false,
        }],
        ..service_spec("web")
    };
    let old = project_spec(vec![service_spec("db"), depends_on_db(0)]);
    // db moved: web's dependency has another id and the same name.
    let new = project_spec(vec![depends_on_db(1), service_spec("db")]);
    assert!(diff(&old, &new).is_empty(), "{:?}", diff(&old, &new));
}

#[test]
fn environment_differences_mask_secret_looking_values() {
    let old = project_spec(vec![with_env(
        "api",
        &[("API_TOKEN", "t1"), ("DEBUG", "0"), ("GONE", "x")],
    )]);
    let new = project_spec(vec![with_env(
        "api",
        &[
            ("API_TOKEN", "t2"),
            ("DEBUG", "1"),
            ("DATABASE_URL", "postgres://app:hunter2@db/app"),
        ],
    )]);
    let plan = diff(&old, &new);
    assert_eq!(plan.changed[0].keys, ["env"]);
    let change = |name: &str, before: Option<&str>, after: Option<&str>| EnvChange {
        name: name.to_string(),
        before: before.map(str::to_string),
        after: after.map(str::to_string),
    };
    assert_eq!(
        plan.changed[0].env,
        [
            change("API_TOKEN", Some(MASK), Some(MASK)),
            change("DATABASE_URL", None, Some("postgres://app:<masked>@db/app"),),
            change("DEBUG", Some("0"), Some("1")),
            change("GONE", Some("x"), None),
        ]
    );
}

#[test]
fn a_change_of_instances_alone_is_a_scale() {
    let old = project_spec(vec![service_spec("web")]);
    let new = project_spec(vec![ServiceSpec {
        instances: Instances::Count(3),
        ..service_spec("web")
    }]);
    let plan = diff(&old, &new);
    assert!(plan.changed[0].only_instances(), "{plan:?}");
}

#[test]
fn project_settings_that_differ_are_named() {
    let old = project_spec(vec![service_spec("web")]);
    let mut new = (*old).clone();
    new.logs.keep_files += 1;
    new.monitor.interval = Duration::from_secs(1);
    let plan = diff(&old, &new);
    let keys: Vec<(&str, bool)> = plan.settings.iter().map(|s| (s.key, s.live)).collect();
    assert_eq!(keys, [("[logs]", false), ("[monitor]", true)]);
    assert_eq!(plan.needing_restart().collect::<Vec<_>>(), ["[logs]"]);
    assert!(plan.changed.is_empty());
}

#[test]
fn a_retired_service_counts_as_absent() {
    let mut old = (*project_spec(vec![service_spec("db"), service_spec("web")])).clone();
    old.retired.insert(0);
    let new = project_spec(vec![service_spec("web")]);
    assert!(diff(&old, &new).is_empty());
    let back = project_spec(vec![service_spec("db"), service_spec("web")]);
    assert_eq!(diff(&old, &back).added, ["db"]);
}
