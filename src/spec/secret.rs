//! The one rule for which environment values wrangle never shows: a variable whose name looks
//! like it holds a secret, a value that carries a password in a URL (only the password is
//! masked), or a long random-looking value whatever its name (an API key pasted into a variable
//! with an innocent name). Everything that shows a service's environment (`apply`'s plan,
//! `describe`, the dashboard) masks through [`shown_value`], so the rule is decided here and
//! nowhere else. A false alarm costs a masked value; a miss costs a leaked secret, so the rule
//! leans towards masking.

use std::borrow::Cow;

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
/// (`postgres://user:hunter2@db/app`), or a long random-looking string.
pub fn has_secret_value(value: &str) -> bool {
    url_without_password(value).is_some() || random_looking(value)
}

/// The value as wrangle may show it: itself; [`MASK`] when the name or the value looks secret;
/// a URL with only its password masked (`postgres://app:<masked>@db/app`).
pub fn shown_value<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    if is_secret_name(name) || random_looking(value) {
        return Cow::Borrowed(MASK);
    }
    match url_without_password(value) {
        Some(shown) => Cow::Owned(shown),
        None => Cow::Borrowed(value),
    }
}

/// Whether [`shown_value`] shows something else than the value.
pub fn is_masked(name: &str, value: &str) -> bool {
    shown_value(name, value) != value
}

/// A long string of letters and digits (and the usual token punctuation) with both letters and
/// digits in it, at least one in eight a digit: what API keys and tokens look like, and what
/// paths, words and sentences do not.
fn random_looking(value: &str) -> bool {
    value.len() >= 24
        && !value.starts_with('/')
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"+/=_-.".contains(&byte))
        && value.bytes().any(|byte| byte.is_ascii_digit())
        && value.bytes().any(|byte| byte.is_ascii_alphabetic())
        && value.bytes().filter(|byte| byte.is_ascii_digit()).count() * 8 >= value.len()
}

/// `scheme://user:password@host...` (anywhere in the value) with the password masked; `None`
/// when the value holds no such URL.
fn url_without_password(value: &str) -> Option<String> {
    let (before, rest) = value.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (userinfo, host) = authority.rsplit_once('@')?;
    let (user, _password) = userinfo.split_once(':')?;
    Some(format!(
        "{before}://{user}:{MASK}@{host}{}",
        &rest[authority_end..]
    ))
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
            "postgres://app:<masked>@db/app"
        );
        assert_eq!(shown_value("API_TOKEN", "abc"), MASK);
        assert_eq!(shown_value("DEBUG", "1"), "1");
    }

    #[test]
    fn urls_keep_everything_but_their_password() {
        let shown = shown_value(
            "DATABASE_URL",
            "postgres://app:s3cret@db.internal:5432/app?ssl=1",
        );
        assert_eq!(shown, "postgres://app:<masked>@db.internal:5432/app?ssl=1");
        assert!(is_masked("UPSTREAM", "redis://:pw@localhost:6379"));
        assert!(!is_masked("UPSTREAM_URL", "http://127.0.0.1:8080/health"));
        assert!(!is_masked(
            "MIRROR",
            "https://anonymous@mirror.example/repo"
        ));
    }

    #[test]
    fn a_key_looking_value_is_masked_whatever_its_name() {
        assert_eq!(
            shown_value("UPSTREAM", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
            MASK
        );
        for (name, value) in [
            ("NODE_ENV", "production"),
            ("DATA_DIR", "/var/lib/app/data/2024-06-01/shard-0001"),
            ("GREETING", "hello world, this is a long and friendly value"),
            ("BUILD", "release-candidate-for-the-spring-launch"),
        ] {
            assert_eq!(shown_value(name, value), value, "{name}");
        }
    }
}
