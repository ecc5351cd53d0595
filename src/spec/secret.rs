//! The one rule for which environment values wrangle never shows: a variable whose name looks
//! like it holds a secret, or a value that carries a password in a URL. Every command that
//! prints a service's environment (`apply`'s plan, and later `describe` or a dashboard) masks
//! through [`shown_value`], so the rule is decided here and nowhere else.

/// Name fragments that mark a variable as secret, matched case-insensitively anywhere in the
/// name (`GITHUB_TOKEN`, `db_password`, `AWS_SECRET_ACCESS_KEY`, `AuthHeader`).
pub const SECRET_NAME_PARTS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PWD",
    "KEY",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
    "SESSION",
    "COOKIE",
    "SIGNATURE",
    "CERT",
    "DSN",
];

/// What a masked value is shown as.
pub const MASK: &str = "<masked>";

/// Whether a variable of this name is secret-looking.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    // `PWD` is also the shell's working directory, which is no secret.
    if upper == "PWD" || upper == "OLDPWD" {
        return false;
    }
    SECRET_NAME_PARTS.iter().any(|part| upper.contains(part))
}

/// Whether a value carries credentials whatever its variable is called: a URL with a password
/// (`postgres://user:hunter2@db/app`).
pub fn has_secret_value(value: &str) -> bool {
    value.split("://").skip(1).any(|rest| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        authority
            .rsplit_once('@')
            .is_some_and(|(userinfo, _)| userinfo.contains(':'))
    })
}

/// The value as wrangle may show it: itself, or [`MASK`] when the name or the value looks
/// secret.
pub fn shown_value<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret_name(name) || has_secret_value(value) {
        MASK
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_names_are_found_in_any_case_and_position() {
        for name in [
            "API_TOKEN",
            "github_token",
            "DB_PASSWORD",
            "PGPASS",
            "AWS_SECRET_ACCESS_KEY",
            "Stripe_Key",
            "AuthHeader",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "SESSION_SECRET",
            "SENTRY_DSN",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["PORT", "DEBUG", "RUST_LOG", "PATH", "PWD", "HOME", "LANG"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn a_url_with_a_password_is_masked_whatever_its_name() {
        assert!(has_secret_value("postgres://app:hunter2@127.0.0.1/app"));
        assert!(has_secret_value("redis://:pw@localhost:6379"));
        assert!(!has_secret_value("http://127.0.0.1:8080/health"));
        assert!(!has_secret_value("https://user@example.com/"));
        assert!(!has_secret_value("a:b@c"));
        assert_eq!(
            shown_value("DATABASE_URL", "postgres://app:hunter2@db/app"),
            MASK
        );
        assert_eq!(shown_value("API_TOKEN", "abc"), MASK);
        assert_eq!(shown_value("DEBUG", "1"), "1");
    }
}
