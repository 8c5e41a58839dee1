//! Polling with a deadline, for the few waits that have no event to wait on
//! (a Unix socket that QEMU has not created yet, a guest command that has not
//! exited yet). Everything else waits on an event: a QMP reply or event, a
//! process exit.

use std::future::Future;
use std::time::Duration;

/// How long to wait between two checks of a condition. This is a poll
/// interval, not a guess at how long anything takes: it only bounds how late
/// a met condition is noticed, and keeps a waiting loop from spinning.
pub const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// How long to wait between two attempts to connect to a socket that QEMU
/// has not made yet. An attempt on a missing socket costs microseconds, and
/// QEMU listens 20–40 ms after it starts, on the path of every resume: a
/// 25 ms interval added 10–25 ms to each.
pub const SOCKET_POLL_INTERVAL: Duration = Duration::from_millis(2);

/// A condition that did not become true in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} did not happen within {limit:?}")]
pub struct PollTimeout {
    /// What was being waited for, in words.
    pub what: String,
    /// The limit that passed.
    pub limit: Duration,
}

/// Calls `check` every `interval` until it returns `Some`, and returns
/// that value; gives up once `limit` has passed.
///
/// `check` runs at least once, even with a zero limit.
///
/// # Errors
///
/// [`PollTimeout`] naming `what` and `limit` when `check` kept returning
/// `None`.
pub async fn poll_until<T, F, Fut>(
    what: &str,
    limit: Duration,
    interval: Duration,
    mut check: F,
) -> Result<T, PollTimeout>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(PollTimeout {
                what: what.to_owned(),
                limit,
            });
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_the_first_value_that_is_ready() {
        let mut calls = 0;
        let value = poll_until("third call", Duration::from_secs(1), POLL_INTERVAL, || {
            calls += 1;
            let ready = (calls == 3).then_some(calls);
            async move { ready }
        })
        .await;
        assert_eq!(value, Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn names_what_it_waited_for_when_time_runs_out() {
        let result: Result<(), _> = poll_until(
            "the moon",
            Duration::from_millis(100),
            POLL_INTERVAL,
            || async { None },
        )
        .await;
        let error = result.unwrap_err();
        assert_eq!(error.to_string(), "the moon did not happen within 100ms");
    }
}
