//! How a failed command is reported on stderr: `error:` with the whole chain
//! of causes on one line, each cause once, then one `hint:` line per hint
//! that the engine's error types give (their `hint()`).

use stack_emulator::capture::CaptureError;
use stack_emulator::credentials::CredentialsError;
use stack_emulator::guest::GuestError;
use stack_emulator::image::ImageError;
use stack_emulator::machine::BootError;
use stack_emulator::preflight::MissingProgram;
use stack_emulator::qemu::SurvivedKill;
use stack_emulator::release::ReleaseError;
use stack_emulator::session::NotRunning;
use stack_emulator::space::SpaceError;
use stack_emulator::start::StartError;
use stack_emulator::stop::StopError;

use crate::commands::CommandError;

/// Prints the error, its causes, and any `hint:` lines last.
pub fn report(e: &anyhow::Error) {
    let (message, hints) = render(e);
    eprintln!("error: {message}");
    for hint in hints {
        eprintln!("hint: {hint}");
    }
}

/// The `error:` text and the hints of `e`: each cause once, joined with
/// `: `, and the hints of every typed error in the chain, outermost first.
fn render(e: &anyhow::Error) -> (String, Vec<String>) {
    let mut hints = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for cause in e.chain() {
        let message = cause.to_string();
        if !lines.iter().any(|l| l.contains(&message)) {
            lines.push(message);
        }
        hints.extend(hints_of(cause));
    }
    (lines.join(": "), hints)
}

/// The hints of one error, when it is one of the types that carry them.
fn hints_of(cause: &(dyn std::error::Error + 'static)) -> Vec<String> {
    if let Some(e) = cause.downcast_ref::<CommandError>() {
        return e.hints();
    }
    let hint = if let Some(e) = cause.downcast_ref::<NotRunning>() {
        Some(e.hint().to_owned())
    } else if let Some(e) = cause.downcast_ref::<CredentialsError>() {
        Some(e.hint().to_owned())
    } else if let Some(e) = cause.downcast_ref::<StartError>() {
        e.hint()
    } else if let Some(e) = cause.downcast_ref::<BootError>() {
        e.hint()
    } else if let Some(e) = cause.downcast_ref::<CaptureError>() {
        e.hint()
    } else if let Some(e) = cause.downcast_ref::<StopError>() {
        e.hint()
    } else if let Some(e) = cause.downcast_ref::<SurvivedKill>() {
        Some(e.hint())
    } else if let Some(e) = cause.downcast_ref::<ReleaseError>() {
        e.hint()
    } else if let Some(e) = cause.downcast_ref::<ImageError>() {
        e.hint()
    } else if let Some(e) = cause.downcast_ref::<GuestError>() {
        e.hint()
    } else if let Some(e) = cause.downcast_ref::<SpaceError>() {
        e.hint()
    } else {
        cause
            .downcast_ref::<MissingProgram>()
            .map(|e| e.hint.clone())
    };
    hint.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::*;

    #[test]
    fn each_cause_prints_once_and_hints_come_last() {
        let e = Err::<(), _>(NotRunning::Stopped)
            .context("cannot get the credentials")
            .unwrap_err();
        let (message, hints) = render(&e);
        assert_eq!(
            message,
            "cannot get the credentials: the emulator is not running"
        );
        assert_eq!(hints, [NotRunning::Stopped.hint()]);
    }

    #[test]
    fn a_transparent_error_gives_its_hints_and_its_message_once() {
        let e = anyhow::Error::from(CommandError::NoSuchImage(ImageError::NotInstalled(
            "images".into(),
        )));
        let (message, hints) = render(&e);
        assert_eq!(message, "no guest image is installed in images");
        assert_eq!(
            hints,
            [
                "run `stack-emulator build-image`",
                "`stack-emulator images` lists the installed images"
            ]
        );
    }

    #[test]
    fn a_stop_that_fails_gives_its_hint_and_then_the_hint_of_its_cause() {
        let e = anyhow::Error::from(StopError::NotStopped(SurvivedKill { pid: 42 }));
        let (message, hints) = render(&e);
        assert_eq!(
            message,
            "cannot stop the emulator: QEMU (pid 42) survived SIGKILL"
        );
        assert_eq!(
            hints,
            [
                "once QEMU (pid 42) is gone, `stack-emulator stop` clears what it left",
                "check the process with `ps -p 42`",
            ]
        );
    }

    #[test]
    fn a_capture_without_an_image_gives_the_hint_of_the_release_error_inside() {
        let why = ReleaseError::NothingToBoot {
            why: "the index is empty".into(),
        };
        let hint = why.hint();
        let e = anyhow::Error::from(CaptureError::Image(Box::new(why)));
        let (message, hints) = render(&e);
        assert_eq!(
            message,
            "cannot get the guest image to capture: no release could be reached (the index is empty), and there are no sources here to build the image from"
        );
        assert_eq!(hints, Vec::from_iter(hint));
    }

    #[test]
    fn a_capture_that_wraps_a_typed_error_gives_that_error_s_hint_once() {
        let e = anyhow::Error::from(CaptureError::from(MissingProgram {
            program: "qemu-img".into(),
            hint: "install QEMU".into(),
        }));
        let (message, hints) = render(&e);
        assert_eq!(message, "qemu-img was not found on PATH");
        assert_eq!(hints, ["install QEMU"]);
    }
}
