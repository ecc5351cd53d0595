//! The writer's housekeeping, between rounds when the buffers are empty, at most once per
//! [`RETRY_INTERVAL`] (or when a rotation made the budget due): is the directory still the one
//! opened, is each file still the one its name points to and not truncated under us, and is the
//! directory within its budget (the oldest rotated files removed first).

use std::time::Instant;

use crate::logs::files;
use crate::logs::writer::{RETRY_INTERVAL, Writer, describe, lock};

impl Writer {
    /// Housekeeping; only ever called with empty buffers. See the module docs.
    pub(super) fn maintain(&mut self) {
        self.now = Instant::now();
        if self.now < self.next_check && !self.budget_due {
            return;
        }
        if self.now >= self.next_check {
            self.next_check = self.now + RETRY_INTERVAL;
            self.check_files();
        }
        if self.budget_due || self.disk_total > self.budget_bytes {
            self.enforce_budget();
        }
    }

    /// Closes files whose name now means something else or that were truncated, and everything
    /// if the directory is not the one we opened; the next line reopens them.
    fn check_files(&mut self) {
        let Some(dir) = &self.dir else {
            return;
        };
        if files::path_identity(&self.dir_path) != Some(dir.id) {
            self.dir = None;
            for (service, files) in self.services.iter_mut().zip(&self.files) {
                service.file = None;
                service.next_attempt = self.now;
                // Not where the spans say any more: in a directory that is gone or elsewhere.
                let mut files = lock(files);
                for span in &mut files.spans {
                    span.generation = None;
                }
                files.moves += 1;
            }
            return;
        }
        let services = self.services.iter_mut().zip(&self.file_names);
        for ((service, name), files) in services.zip(&self.files) {
            let (Some(file), Some(index)) = (&service.file, &service.index) else {
                continue;
            };
            // Truncated from outside (logrotate's copytruncate): the file is not opened to
            // append, so it is opened again at its new end.
            let truncated = files::size_of(&file.file).is_some_and(|size| size < file.size);
            if truncated
                || files::name_identity(dir, name) != Some(file.id)
                || files::name_identity(dir, &files::index_name(name)) != Some(index.id)
            {
                let mut files = lock(files);
                for span in &mut files.spans {
                    if span.id == file.id {
                        span.generation = None;
                    }
                }
                files.moves += 1;
                drop(files);
                service.file = None;
                service.index = None;
                service.next_attempt = self.now;
            }
        }
    }

    /// Measures the directory and removes the oldest rotated files until it fits its budget.
    fn enforce_budget(&mut self) {
        self.budget_due = false;
        let Some(dir) = &self.dir else {
            return;
        };
        let scan = match files::scan(dir, &self.file_names, self.keep_files) {
            Ok(scan) => scan,
            Err(error) => {
                lock(&self.shared.disk).last_error = Some(describe(&error));
                return;
            }
        };
        let mut total = scan.total;
        let mut removed = scan.removed;
        let mut last_error = None;
        if scan.removed > 0 {
            // Files numbered beyond `keep_files` are gone.
            for files in &self.files {
                let mut files = lock(files);
                for span in &mut files.spans {
                    if span
                        .generation
                        .is_some_and(|generation| generation > self.keep_files)
                    {
                        span.generation = None;
                    }
                }
                files.moves += 1;
            }
        }
        for file in files::over_budget(&scan.rotated, scan.total, self.budget_bytes) {
            match files::remove_with_index(dir, &file.name) {
                Ok(()) => {
                    total = total.saturating_sub(file.size);
                    removed += 1;
                    let base = file.name.rsplit_once('.').map_or("", |(base, _)| base);
                    if let Some(service) = self.file_names.iter().position(|name| name == base) {
                        lock(&self.files[service]).removed(file.generation);
                    }
                }
                Err(error) => last_error = Some(describe(&error)),
            }
        }
        let over_budget = total > self.budget_bytes;
        if over_budget {
            last_error = Some(format!(
                "log directory {} holds {total} bytes, over its budget of {} bytes, and has no \
                 rotated log left to remove",
                self.dir_path.display(),
                self.budget_bytes
            ));
        }
        self.disk_total = total;
        let mut disk = lock(&self.shared.disk);
        disk.total_bytes = total;
        disk.files_removed += removed;
        disk.over_budget = over_budget;
        if last_error.is_some() {
            disk.last_error = last_error;
        }
    }
}
