//! `portal import --company <id> users.csv`: the same pipeline as the API, for an operator at
//! a terminal, with a progress bar (rows per second, ETA), a summary, and the error log
//! written next to the file. Ctrl-C cancels the import. The command sends the welcome emails
//! itself before it returns; any the transport refuses for now wait in the outbox for a server.

use super::Imports;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::EntityTrait;
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast::{self, error::RecvError};

use super::progress::Progress;
use super::{error_log, job, states};
use crate::db::companies;
use crate::domain::ImportStatus;
use crate::types::{CompanyId, ImportJobId};

pub struct Request {
    pub company_id: CompanyId,
    pub file: PathBuf,
    pub dry_run: bool,
    pub send_welcome_emails: bool,
}

/// Runs the import to its end; Ok(false) when the file has errors (the log says which).
pub async fn run(svc: &Imports, request: Request) -> anyhow::Result<bool> {
    let company = companies::Entity::find_by_id(request.company_id)
        .one(&svc.db)
        .await?
        .with_context(|| format!("no company has the id {}", request.company_id))?;
    let content = tokio::fs::File::open(&request.file)
        .await
        .with_context(|| format!("cannot open {}", request.file.display()))?;
    let options = super::Options {
        sub_account_ids: Vec::new(),
        file_name: request.file.file_name().map(|n| n.to_string_lossy().into_owned()),
        dry_run: request.dry_run,
        send_welcome_emails: request.send_welcome_emails,
    };
    let started = Instant::now();
    let mut interrupt = std::pin::pin!(interrupted());
    let mut progress = svc.progress.subscribe();
    let job = job::start(svc, company.id, None, options, content).await?;
    eprintln!("Importing {} into {} (job {})", request.file.display(), company.name, job.id);

    let last = match follow(svc, job.id, &mut progress, interrupt.as_mut()).await? {
        Some(last) => last,
        None => return Ok(false), // interrupted
    };
    let job = states::load(svc, job.id).await?;
    println!(
        "{:?}: {} rows, {} created, {} errors, in {:.1} s",
        job.status,
        job.total_rows,
        job.created_count,
        job.error_count,
        started.elapsed().as_secs_f64()
    );
    if let Some(message) = &job.failure_message {
        println!("{message}");
    }
    if last.error_count > 0 {
        let log = log_path(&request.file);
        write_log(svc, job.id, &log).await?;
        println!("Nothing was imported. The rows with an Errors column are in {}", log.display());
        return Ok(false);
    }
    match job.status {
        ImportStatus::Validated => {
            println!("Dry run: the file is clean. Commit it with commitUserImport(id: \"{}\").", job.id)
        }
        ImportStatus::Completed if job.send_welcome_emails => {
            // They are sent after the write (`super::welcome`), by this process: it stays
            // until they all are, or a server would only take them over once the lease ran out.
            eprintln!("Sending the welcome emails…");
            let done = loop {
                let running = svc.running.is_running(job.id);
                if !states::load(svc, job.id).await?.welcomes_pending {
                    break true;
                }
                if !running {
                    break false; // the pass stopped here: the log says why
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            };
            if done {
                println!("Welcome emails sent (any the mail server refused for now are retried by the server).")
            } else {
                println!("Some welcome emails could not be sent yet (the log says why); a server will send them.")
            }
        }
        _ => {}
    }
    Ok(matches!(job.status, ImportStatus::Completed | ImportStatus::Validated))
}

/// Shows the job's phases on a progress bar until it ends (its last state), or cancels it on
/// Ctrl-C (None).
async fn follow(
    svc: &Imports,
    job_id: ImportJobId,
    progress: &mut broadcast::Receiver<Progress>,
    mut interrupt: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> anyhow::Result<Option<Progress>> {
    let bar = ProgressBar::new(0);
    bar.set_style(bar_style());
    let mut phase = None;
    let mut too_late = false;
    let last = loop {
        let received = tokio::select! {
            received = progress.recv() => received,
            // Ctrl-C means "stop": cancel the job (or a server would resume it) and say so. Once
            // the job can no longer be cancelled (its write is committing or it has ended), say
            // so at once and follow it to its end, which decides the exit code.
            _ = interrupt.as_mut(), if !too_late => {
                let cancelled = job::cancel_job(svc, states::load(svc, job_id).await?, None).await;
                match cancelled {
                    Ok(_) => {
                        bar.finish_and_clear();
                        // Let the job roll back and forget its file before the process ends.
                        let stopped = async {
                            while let Ok(state) = progress.recv().await {
                                if state.job_id == job_id && state.is_final() {
                                    break;
                                }
                            }
                        };
                        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stopped).await;
                        println!("Cancelled: nothing was imported.");
                    }
                    Err(error) => {
                        bar.println(format!("Too late to cancel ({error}): the import goes on to its end."));
                        too_late = true;
                        continue;
                    }
                }
                return Ok(None);
            }
        };
        let state = match received {
            Ok(state) if state.job_id == job_id => state,
            Ok(_) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => anyhow::bail!("the import stopped reporting"),
        };
        if phase != Some(state.status) {
            // Each phase has its own bar: validation, then the write.
            phase = Some(state.status);
            bar.reset();
            bar.set_message(if state.status == ImportStatus::Importing { "writing" } else { "validating" });
        }
        bar.set_length(state.total_rows.max(0) as u64);
        let done = if state.status == ImportStatus::Importing { state.created_count } else { state.processed_rows };
        bar.set_position(done.max(0) as u64);
        if state.is_final() {
            break state;
        }
    };
    bar.finish_and_clear();
    Ok(Some(last))
}

/// Phase, bar, rows done of all, the rate in whole rows per second, time left.
fn bar_style() -> ProgressStyle {
    #[allow(clippy::expect_used, reason = "a constant template")]
    ProgressStyle::with_template("{msg:>10} [{bar:40}] {human_pos}/{human_len} rows, {rate}, ETA {eta}")
        .expect("a valid template")
        .with_key("rate", |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
            let rate = state.per_sec();
            let _ = if rate.is_finite() { write!(out, "{rate:.0} rows/s") } else { write!(out, "- rows/s") };
        })
        .progress_chars("=> ")
}

/// Completes on Ctrl-C. Listening starts when this is called, not when first polled: a Ctrl-C
/// right after the import starts is not lost (nor does it kill the process).
fn interrupted() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
        async move {
            match signal {
                Ok(mut signal) => drop(signal.recv().await),
                Err(_) => std::future::pending().await,
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `users.csv` → `users.errors.csv`, in the same folder.
fn log_path(file: &Path) -> PathBuf {
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "import".into());
    file.with_file_name(format!("{stem}.errors.csv"))
}

async fn write_log(svc: &Imports, job_id: ImportJobId, path: &Path) -> anyhow::Result<()> {
    let mut out = tokio::fs::File::create(path).await.with_context(|| format!("cannot write {}", path.display()))?;
    let mut log = std::pin::pin!(error_log::stream(svc, job_id).await?);
    while let Some(piece) = log.next().await {
        out.write_all(&piece?).await?;
    }
    out.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A terminal that keeps what is drawn on it.
    #[derive(Debug, Default, Clone)]
    struct Screen(Arc<Mutex<String>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, line: &str) -> std::io::Result<()> {
            self.write_str(&format!("{line}\n"))
        }
        fn write_str(&self, text: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push_str(text);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_rate_is_a_whole_number_of_rows() {
        let screen = Screen::default();
        let bar = ProgressBar::with_draw_target(
            Some(1000),
            indicatif::ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_style(bar_style());
        bar.set_message("validating");
        for _ in 0..3 {
            bar.inc(123);
            bar.force_draw();
        }
        let drawn = screen.0.lock().unwrap().clone();
        let rate = drawn.lines().last().unwrap().split(", ").nth(1).unwrap().to_owned();
        let number = rate.strip_suffix(" rows/s").unwrap_or_else(|| panic!("{drawn}"));
        assert!(number == "-" || number.chars().all(|c| c.is_ascii_digit()), "{rate} in {drawn}");
        assert!(drawn.contains("369/1,000 rows"), "{drawn}");
    }
}
