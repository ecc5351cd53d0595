//! `user` and `group`: the account a service runs as, looked up through the caller's
//! [`Accounts`](crate::config::Accounts) when the config is loaded, so a name that does not
//! exist, or one wrangle could not switch to, is a located error before anything starts.
//!
//! Only root can run a service as someone else. As anyone else, `user` may only name wrangle's
//! own user and `group` its own group: the rule is checked here rather than left to a spawn that
//! would fail with EPERM later, service after service.

use toml::Spanned;

use super::Resolver;
use crate::config::diagnostic::Diagnostic;
use crate::config::document::RawService;
use crate::spec::{Account, RunAs};

impl Resolver<'_, '_, '_> {
    /// The service's `user` and `group` (its own, else `[defaults]`'): `Some(None)` when neither
    /// is set, `None` after reporting a problem.
    pub(super) fn run_as(&mut self, service: &RawService) -> Option<Option<RunAs>> {
        let defaults = &self.raw.defaults;
        let user = service.settings.user.as_ref().or(defaults.user.as_ref());
        let group = service.settings.group.as_ref().or(defaults.group.as_ref());
        if user.is_none() && group.is_none() {
            return Some(None);
        }
        let written = |value: Option<&Spanned<String>>| value.map(|value| value.get_ref().clone());
        let Some(accounts) = self.files.gate.trust.accounts().copied() else {
            return Some(Some(RunAs {
                user: written(user),
                group: written(group),
                account: None,
            }));
        };
        let (own_uid, own_gid) = self.files.gate.trust.ids();
        let entry = match user {
            Some(user) => match (accounts.user)(user.get_ref()) {
                Some(entry) => Some(entry),
                None => {
                    self.diagnostics.push(
                        Diagnostic::at(
                            self.file,
                            user.span(),
                            format!("no user named \"{}\" on this machine", user.get_ref()),
                            "not in /etc/passwd",
                        )
                        .with_help("create the user, or give its numeric id"),
                    );
                    None
                }
            },
            None => (accounts.user)(&own_uid.to_string()),
        };
        let gid = match group {
            Some(group) => match (accounts.group)(group.get_ref()) {
                Some(gid) => Some(gid),
                None => {
                    self.diagnostics.push(
                        Diagnostic::at(
                            self.file,
                            group.span(),
                            format!("no group named \"{}\" on this machine", group.get_ref()),
                            "not in /etc/group",
                        )
                        .with_help("create the group, or give its numeric id"),
                    );
                    None
                }
            },
            None => match (&entry, user) {
                (Some(entry), _) if entry.gid.is_some() => entry.gid,
                (Some(entry), Some(user)) => {
                    self.diagnostics.push(
                        Diagnostic::at(
                            self.file,
                            user.span(),
                            format!(
                                "user {} has no entry in /etc/passwd, so no group of its own",
                                entry.uid
                            ),
                            "a group is needed",
                        )
                        .with_help(format!("say which: group = {}", entry.uid)),
                    );
                    None
                }
                _ => Some(own_gid),
            },
        };
        let (entry, gid) = (entry?, gid?);
        if own_uid != 0 {
            let mut refused = false;
            if let Some(user) = user
                && entry.uid != own_uid
            {
                refused = true;
                self.diagnostics.push(self.not_root(
                    user,
                    format!(
                        "wrangle runs as {}, not root: it cannot start a service as {}",
                        self.files.gate.trust.user(own_uid),
                        self.files.gate.trust.user(entry.uid)
                    ),
                ));
            }
            if let Some(group) = group
                && gid != own_gid
            {
                refused = true;
                self.diagnostics.push(self.not_root(
                    group,
                    format!(
                        "wrangle runs with group {own_gid}, not as root: it cannot start a \
                         service with group {gid}"
                    ),
                ));
            }
            if refused {
                return None;
            }
        }
        let groups = match entry.gid {
            Some(_) => (accounts.groups_of)(&entry.name, gid),
            None => vec![gid],
        };
        Some(Some(RunAs {
            user: written(user),
            group: written(group),
            account: Some(Account {
                name: entry.name,
                uid: entry.uid,
                gid,
                groups,
                home: entry.home,
            }),
        }))
    }

    fn not_root(&self, written: &Spanned<String>, message: String) -> Diagnostic {
        Diagnostic::at(
            self.file,
            written.span(),
            message,
            "only root can switch users",
        )
        .with_help(
            "remove it to run the service as wrangle's user, or run wrangle as root \
                 (for example from a system unit: `wrangle startup --system`)",
        )
    }
}
