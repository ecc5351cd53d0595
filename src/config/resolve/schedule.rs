//! `schedule`, `every` and `on_schedule`: when a service runs by the clock, and the rules that
//! keep a job sensible: one of `schedule` and `every`, `on_schedule` only with one of them, no
//! `restart = "always"` for a job (it would never end), and nothing depending on a job (it
//! only runs at its times). The expression itself was read and checked with the document.

use super::Resolver;
use crate::config::diagnostic::Diagnostic;
use crate::config::document::{RawDependency, RawService};
use crate::spec::RestartPolicy;
use crate::spec::schedule::{ScheduleAction, ScheduleSpec, ScheduleWhen};

impl Resolver<'_, '_, '_> {
    /// `schedule` or `every`, with `on_schedule`; `Some(None)` for a service that has neither.
    /// `policy`: its restart policy, when that resolved.
    pub(super) fn schedule(
        &mut self,
        service: &RawService,
        policy: Option<RestartPolicy>,
    ) -> Option<Option<ScheduleSpec>> {
        let name = service.name.get_ref();
        let span = match (&service.schedule, &service.every) {
            (Some(cron), _) => cron.span(),
            (None, Some(every)) => every.span(),
            (None, None) => 0..0,
        };
        let when = match (&service.schedule, &service.every) {
            (Some(cron), Some(every)) => {
                self.diagnostics.push(
                    Diagnostic::at(
                        self.file,
                        every.span(),
                        format!("service \"{name}\" has both `schedule` and `every`"),
                        "remove one of the two",
                    )
                    .with_note(format!("`schedule` is \"{}\"", cron.get_ref().0)),
                );
                return None;
            }
            (Some(cron), None) => ScheduleWhen::Cron {
                expression: cron.get_ref().0.clone(),
                cron: Box::new(cron.get_ref().1.clone()),
            },
            (None, Some(every)) => ScheduleWhen::Every(*every.get_ref()),
            (None, None) => {
                if let Some(action) = &service.on_schedule {
                    self.diagnostics.push(Diagnostic::at(
                        self.file,
                        action.span(),
                        format!(
                            "service \"{name}\" has `on_schedule` but no `schedule` or `every`"
                        ),
                        "nothing to act on",
                    ));
                    return None;
                }
                return Some(None);
            }
        };
        let action = service
            .on_schedule
            .as_ref()
            .map_or(ScheduleAction::Start, |action| *action.get_ref());
        if action == ScheduleAction::Start && policy == Some(RestartPolicy::Always) {
            // Restarted after every run, it would never end, and every time would be skipped.
            self.diagnostics.push(
                Diagnostic::at(
                    self.file,
                    span,
                    format!(
                        "service \"{name}\" is started by its schedule but has restart = \"always\""
                    ),
                    "a job that is always restarted never ends",
                )
                .with_help(
                    "give it restart = \"on-failure\" or \"never\", or on_schedule = \"restart\" \
                     for a service that runs all the time",
                ),
            );
            return None;
        }
        Some(Some(ScheduleSpec { when, action }))
    }

    /// Whether `dependency` of `service` names a job (a service its schedule starts), after
    /// reporting it: a job only runs at its times, so nothing can wait for it.
    pub(super) fn depends_on_a_job(
        &mut self,
        service: &RawService,
        dependency: &RawDependency,
    ) -> bool {
        let name = dependency.name.get_ref();
        let started_by_its_schedule = self.raw.services.iter().any(|other| {
            other.name.get_ref() == name
                && (other.schedule.is_some() || other.every.is_some())
                && other
                    .on_schedule
                    .as_ref()
                    .is_none_or(|action| *action.get_ref() == ScheduleAction::Start)
        });
        if started_by_its_schedule {
            self.diagnostics.push(
                Diagnostic::at(
                    self.file,
                    dependency.name.span(),
                    format!(
                        "service \"{}\" depends on \"{name}\", which only runs at its scheduled times",
                        service.name.get_ref()
                    ),
                    "a scheduled job cannot be depended on",
                )
                .with_help(format!(
                    "remove the dependency, or give \"{name}\" on_schedule = \"restart\" if it runs all the time"
                )),
            );
        }
        started_by_its_schedule
    }
}
