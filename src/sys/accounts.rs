//! Users and groups of this machine, from `/etc/passwd` and `/etc/group`: who a service runs as
//! (`user`, `group`).
//!
//! Deliberately not `getpwnam` and friends: those go through NSS and libc's locale and module
//! loading, which we avoid, as `process_table::user_name` does. Users known only to a directory
//! service (LDAP, SSSD) are therefore not found by name; their numeric ids are accepted instead
//! (a number without an entry runs with no supplementary groups and `HOME=/`).

use std::path::PathBuf;

/// Whether wrangle runs as root (its effective user), the one user that may start a service as
/// another.
pub fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// wrangle's effective user id.
pub fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// A user: `/etc/passwd`'s entry, or a bare number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login name, or the number as text when it has no entry.
    pub name: String,
    pub uid: u32,
    /// Its primary group; `None` for a number without an entry.
    pub gid: Option<u32>,
    /// Its home directory; `/` for a number without an entry.
    pub home: PathBuf,
}

/// Finds a user by name, or by number (with or without an entry).
pub fn user(name_or_id: &str) -> Option<User> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    find_user(&passwd, name_or_id)
}

/// Finds a group's id by name, or takes a number as it is.
pub fn group(name_or_id: &str) -> Option<u32> {
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    find_group(&group, name_or_id)
}

/// The groups `user` (a login name) is a member of in `/etc/group`, with `primary` first:
/// what `initgroups` would give it.
pub fn groups_of(user: &str, primary: u32) -> Vec<u32> {
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    member_of(&group, user, primary)
}

fn find_user(passwd: &str, name_or_id: &str) -> Option<User> {
    let number = name_or_id.parse::<u32>().ok();
    let entry = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let [name, _, uid, gid, _, home, ..] = fields.as_slice() else {
            return None;
        };
        let uid: u32 = uid.parse().ok()?;
        let matches = match number {
            Some(number) => uid == number,
            None => *name == name_or_id,
        };
        (matches && !name.is_empty()).then(|| User {
            name: name.to_string(),
            uid,
            gid: gid.parse().ok(),
            home: PathBuf::from(if home.is_empty() { "/" } else { home }),
        })
    });
    entry.or_else(|| {
        number.map(|uid| User {
            name: uid.to_string(),
            uid,
            gid: None,
            home: PathBuf::from("/"),
        })
    })
}

fn find_group(group: &str, name_or_id: &str) -> Option<u32> {
    if let Ok(number) = name_or_id.parse::<u32>() {
        return Some(number);
    }
    group.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let gid = fields.nth(1)?.parse().ok()?;
        (name == name_or_id).then_some(gid)
    })
}

fn member_of(group: &str, user: &str, primary: u32) -> Vec<u32> {
    let mut groups = vec![primary];
    for line in group.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        let [_, _, gid, members] = fields.as_slice() else {
            continue;
        };
        let Ok(gid) = gid.parse::<u32>() else {
            continue;
        };
        if members.split(',').any(|member| member == user) && !groups.contains(&gid) {
            groups.push(gid);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
                          broken line\n\
                          app:x:1001:1002:App:/srv/app:/bin/sh\n\
                          nohome:x:1003:1003::::\n";
    const GROUP: &str = "root:x:0:\n\
                         app:x:1002:\n\
                         audio:x:29:app,other\n\
                         video:x:44:other\n\
                         docker:x:999:other,app\n\
                         garbage\n";

    #[test]
    fn a_user_by_name_or_number_with_its_entry() {
        let app = User {
            name: "app".to_string(),
            uid: 1001,
            gid: Some(1002),
            home: PathBuf::from("/srv/app"),
        };
        assert_eq!(find_user(PASSWD, "app"), Some(app.clone()));
        assert_eq!(find_user(PASSWD, "1001"), Some(app));
        assert_eq!(
            find_user(PASSWD, "nohome").unwrap().home,
            PathBuf::from("/")
        );
    }

    #[test]
    fn an_unknown_name_is_none_and_an_unknown_number_is_bare() {
        assert_eq!(find_user(PASSWD, "nobody-here"), None);
        assert_eq!(
            find_user(PASSWD, "4242"),
            Some(User {
                name: "4242".to_string(),
                uid: 4242,
                gid: None,
                home: PathBuf::from("/"),
            })
        );
    }

    #[test]
    fn groups_by_name_or_number_and_membership() {
        assert_eq!(find_group(GROUP, "audio"), Some(29));
        assert_eq!(find_group(GROUP, "31337"), Some(31337));
        assert_eq!(find_group(GROUP, "missing"), None);
        assert_eq!(member_of(GROUP, "app", 1002), vec![1002, 29, 999]);
        assert_eq!(member_of(GROUP, "nobody", 7), vec![7]);
    }
}
