use super::*;

#[test]
fn object_names_follow_dns_labels() {
    assert_eq!(object_name("api"), "api");
    assert_eq!(object_name("Api_V2.internal"), "api-v2-internal");
    assert_eq!(object_name("9lives"), "s-9lives");
    assert_eq!(object_name(&"x".repeat(100)).len(), MAX_LABEL);
    assert_eq!(
        object_name(&format!("{}-y", "x".repeat(62))),
        "x".repeat(62)
    );
}

#[test]
fn label_values_are_trimmed_to_alphanumeric_ends() {
    assert_eq!(label_value("demo"), "demo");
    assert_eq!(label_value("my app!"), "my-app");
    assert_eq!(label_value("_x_"), "x");
    assert_eq!(label_value("ünï"), "n");
    assert_eq!(label_value("_-"), "project");
    assert_eq!(label_value(&"a".repeat(80)).len(), MAX_LABEL);
}

#[test]
fn quantities_use_binary_units_only_when_exact() {
    assert_eq!(quantity(512 * 1024 * 1024), "512Mi");
    assert_eq!(quantity(2 * 1024 * 1024 * 1024), "2Gi");
    assert_eq!(quantity(4096), "4Ki");
    assert_eq!(quantity(500_000_000), "500000000");
}

#[test]
fn config_map_keys_are_checked() {
    assert!(is_config_map_key("DB_PORT"));
    assert!(is_config_map_key("a.b-c"));
    assert!(!is_config_map_key("A B"));
    assert!(!is_config_map_key(""));
    assert!(!is_config_map_key("ü"));
}
