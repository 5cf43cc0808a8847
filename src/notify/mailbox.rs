//! `mailbox`: the embedded default transport. Each email becomes `<delivery id>.eml` in
//! `PORTAL_MAILBOX_DIR`, written to a temporary name and renamed, so a reader never sees half a
//! file and a retried delivery replaces rather than duplicates.

use std::path::PathBuf;

use lettre::message::Mailbox;

use super::email::build_message;
use super::plugin::{Channel, Notifier, Outcome, Outgoing};

pub struct MailboxNotifier {
    dir: PathBuf,
    from: Mailbox,
}

impl MailboxNotifier {
    pub fn new(dir: PathBuf, from: Mailbox) -> Self {
        MailboxNotifier { dir, from }
    }
}

#[async_trait::async_trait]
impl Notifier for MailboxNotifier {
    fn name(&self) -> &'static str {
        "mailbox"
    }

    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn deliver(&self, outgoing: &Outgoing) -> Outcome {
        let message = match build_message(outgoing, &self.from) {
            Ok(message) => message,
            Err(error) => return Outcome::Permanent(error),
        };
        let final_path = self.dir.join(format!("{}.eml", outgoing.delivery_id));
        let temp_path = self.dir.join(format!(".{}.eml.tmp", outgoing.delivery_id));
        let write = async {
            tokio::fs::create_dir_all(&self.dir).await?;
            tokio::fs::write(&temp_path, message.formatted()).await?;
            tokio::fs::rename(&temp_path, &final_path).await
        };
        match write.await {
            Ok(()) => Outcome::Delivered,
            Err(error) => Outcome::Transient(format!("writing {}: {error}", final_path.display())),
        }
    }
}
