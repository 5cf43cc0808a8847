//! `mailbox`: the embedded default transport. Each email becomes `<delivery id>.eml` in
//! `PORTAL_MAILBOX_DIR`, written to a temporary name and renamed, so a reader never sees half a
//! file and a retried delivery replaces rather than duplicates.

use std::path::PathBuf;

use lettre::Message;

use super::email::EmailTransport;
use super::plugin::{Outcome, Outgoing};

pub struct MailboxDir {
    dir: PathBuf,
}

impl MailboxDir {
    pub fn new(dir: PathBuf) -> Self {
        MailboxDir { dir }
    }
}

#[async_trait::async_trait]
impl EmailTransport for MailboxDir {
    fn name(&self) -> &'static str {
        "mailbox"
    }

    async fn send(&self, message: Message, outgoing: &Outgoing) -> Outcome {
        let final_path = self.dir.join(format!("{}.eml", outgoing.delivery_id));
        let temp_path = self.dir.join(format!(".{}.eml.tmp", outgoing.delivery_id));
        let write = async {
            tokio::fs::create_dir_all(&self.dir).await?;
            tokio::fs::write(&temp_path, message.formatted()).await?;
            tokio::fs::rename(&temp_path, &final_path).await
        };
        match write.await {
            Ok(()) => Outcome::Delivered,
            // Administrators see the outcome: the server's path stays in the log.
            Err(error) => {
                tracing::warn!(path = %final_path.display(), %error, "mailbox write failed");
                Outcome::Transient("the mailbox directory could not be written (the server log says why)".into())
            }
        }
    }
}
