//! `webhook`: POSTs events to a company's endpoints per the Standard Webhooks specification:
//! headers `webhook-id` (the event id, stable across retries, for deduplication),
//! `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of
//! `id.timestamp.body` keyed with the base64 part of the `whsec_` secret; during a rotation
//! both secrets sign, space-separated). Body: `{type, timestamp, data}`. 10 s timeout,
//! redirects not followed.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{DatabaseConnection, EntityTrait};
use sha2::Sha256;

use super::plugin::{Channel, Notifier, Outcome, Outgoing};
use crate::db::webhook_endpoints;
use crate::types::WebhookEndpointId;
use crate::types::clock::Clock;
use std::net::IpAddr;

pub struct WebhookNotifier {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    allow_private: bool,
}

impl WebhookNotifier {
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>, allow_private: bool) -> anyhow::Result<Self> {
        let mut client = reqwest::Client::builder();
        if !allow_private {
            // The addresses checked are the addresses connected to: a name that resolved to a
            // public address when the endpoint was saved cannot rebind to an internal one.
            client = client.dns_resolver(Arc::new(PublicAddressesOnly));
        }
        let client = client
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Portal-Webhooks/1")
            .build()?;
        Ok(WebhookNotifier { db, clock, client, allow_private })
    }
}

/// Resolves a webhook's host name for the connection itself, keeping only public addresses.
struct PublicAddressesOnly;

impl reqwest::dns::Resolve for PublicAddressesOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// `v1,<base64 signature>` of `id.timestamp.body` with one `whsec_` secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = STANDARD.decode(secret.trim_start_matches("whsec_")).map_err(|_| "the endpoint secret is not base64")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| "the endpoint secret is unusable")?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

#[async_trait::async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    async fn deliver(&self, outgoing: &Outgoing) -> Outcome {
        let Ok(endpoint_id) = outgoing.recipient.parse::<WebhookEndpointId>() else {
            return Outcome::Permanent(format!("`{}` is not an endpoint id", outgoing.recipient));
        };
        let endpoint = match webhook_endpoints::Entity::find_by_id(endpoint_id).one(&self.db).await {
            Ok(Some(endpoint)) => endpoint,
            Ok(None) => return Outcome::Permanent("the endpoint was deleted".into()),
            Err(error) => {
                tracing::warn!(%error, "loading a webhook endpoint");
                return Outcome::Transient("the endpoint could not be loaded (the server log says why)".into());
            }
        };
        // Checked again at each delivery: DNS may have changed since the endpoint was created.
        let url = match check_url(&endpoint.url, self.allow_private).await {
            Ok(url) => url,
            Err(problem) => return Outcome::Permanent(format!("url {problem}")),
        };
        let body = serde_json::json!({
            "type": outgoing.event_type,
            "timestamp": outgoing.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": outgoing.data,
        })
        .to_string();
        let id = format!("msg_{}", outgoing.event_id.0.simple());
        let now = self.clock.now();
        let timestamp = now.timestamp();
        let mut secrets = vec![endpoint.secret.as_str()];
        if let (Some(previous), Some(until)) = (&endpoint.previous_secret, endpoint.previous_secret_expires_at)
            && until > now
        {
            secrets.push(previous);
        }
        let signatures: Result<Vec<String>, String> =
            secrets.iter().map(|secret| sign(secret, &id, timestamp, body.as_bytes())).collect();
        let signatures = match signatures {
            Ok(signatures) => signatures.join(" "),
            Err(problem) => return Outcome::Permanent(problem),
        };
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signatures)
            .body(body)
            .send()
            .await;
        match response {
            Err(error) => Outcome::Transient(format!("request failed: {error}")),
            Ok(response) => {
                let status = response.status();
                match status.as_u16() {
                    200..=299 => Outcome::Delivered,
                    408 | 429 | 500..=599 => Outcome::Transient(format!("endpoint answered {status}")),
                    300..=399 => Outcome::Permanent(format!("endpoint answered {status}; redirects are not followed")),
                    _ => Outcome::Permanent(format!("endpoint answered {status}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signs_like_the_specification_example() {
        // The example of the Standard Webhooks specification.
        let signature = super::sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}

/// Refuses what is not http(s), and (unless allowed) hosts that resolve to loopback, private,
/// link-local or otherwise internal addresses: a webhook must not become a way to reach the
/// server's own network.
pub async fn check_url(raw: &str, allow_private: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("is not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http(s) URL".into());
    }
    let host = url.host_str().ok_or("has no host")?.trim_start_matches('[').trim_end_matches(']').to_owned();
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    if allow_private {
        return Ok(url);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| format!("host {host} does not resolve"))?
        .map(|a| a.ip())
        .collect();
    if addresses.is_empty() || addresses.iter().any(|ip| !is_public(*ip)) {
        return Err(format!("host {host} is an internal address; webhooks go to public addresses only"));
    }
    Ok(url)
}

/// Whether a webhook may connect to `ip`: only globally routed unicast addresses. Written as
/// what is allowed rather than what is not, so a range nobody thought of stays closed; IPv6
/// forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by it.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(a == 0                                   // "this" network
                || a == 10                              // private
                || a == 100 && (64..128).contains(&b)   // carrier-grade NAT
                || a == 127                             // loopback
                || a == 169 && b == 254                 // link-local (cloud metadata)
                || a == 172 && (16..32).contains(&b)    // private
                || a == 192 && b == 0 && c == 0         // IETF protocol assignments
                || a == 192 && b == 0 && c == 2         // documentation
                || a == 192 && b == 88 && c == 99       // 6to4 relay anycast
                || a == 192 && b == 168                 // private
                || a == 198 && (18..20).contains(&b)    // benchmarking
                || a == 198 && b == 51 && c == 100      // documentation
                || a == 203 && b == 0 && c == 113       // documentation
                || a >= 224) // multicast, reserved (240/4), broadcast
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded_v4 = |high: u16, low: u16| {
                is_public(IpAddr::V4(std::net::Ipv4Addr::new(
                    (high >> 8) as u8,
                    high as u8,
                    (low >> 8) as u8,
                    low as u8,
                )))
            };
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            match s {
                // IPv4-compatible (deprecated, `::127.0.0.1`) and NAT64 (`64:ff9b::/96`).
                [0, 0, 0, 0, 0, 0, high, low] | [0x64, 0xff9b, 0, 0, 0, 0, high, low] => embedded_v4(high, low),
                // 6to4: the IPv4 address follows the prefix.
                [0x2002, high, low, ..] => embedded_v4(high, low),
                // IETF assignments (Teredo, ORCHID…) and documentation.
                [0x2001, second, ..] if second < 0x200 || second == 0xdb8 => false,
                // Global unicast is 2000::/3; everything else (ULA, link- and site-local,
                // multicast, loopback, discard, local NAT64) is not for webhooks.
                [first, ..] => (0x2000..0x4000).contains(&first),
            }
        }
    }
}

#[cfg(test)]
mod address_tests {
    use super::is_public;

    #[test]
    fn only_global_unicast_is_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.0.1",
            "224.0.0.1",
            "::1",
            "::",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "fec0::1",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
            "64:ff9b:1::1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal} must be refused");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"]
        {
            assert!(is_public(public.parse().unwrap()), "{public} is public");
        }
    }
}
