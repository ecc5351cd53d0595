//! Whether the reader of our standard output went away: for streaming commands (`logs -f`) that
//! must end once nobody reads them, also while they have nothing to write.

use std::time::Duration;

use rustix::event::{PollFd, PollFlags};

/// How often [`stdout_gone`] looks.
const CHECK_INTERVAL: Duration = Duration::from_millis(200);

/// Whether stdout reports an error or a hang-up now: the read end of its pipe or socket was
/// closed (`| head` exited), or its terminal hung up. A file never does.
pub fn stdout_is_gone() -> bool {
    let stdout = rustix::stdio::stdout();
    // `poll` always reports POLLERR and POLLHUP, whatever was asked for; asking for nothing
    // makes a writable pipe (the usual case) no event at all.
    let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
    match rustix::event::poll(
        &mut fds,
        Some(&rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        }),
    ) {
        Ok(0) | Err(_) => false,
        Ok(_) => fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP),
    }
}

/// Completes once [`stdout_is_gone`] (checked every 200 ms).
pub async fn stdout_gone() {
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    loop {
        tick.tick().await;
        if stdout_is_gone() {
            return;
        }
    }
}
