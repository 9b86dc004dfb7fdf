//! What flows through a hub, and which subscribers want it.

use std::fmt;

/// One message from a source: a routing key, the tenant and job it belongs to when known, and an
/// opaque payload. `Debug` shows the payload's length only; no log line of the hub ever carries
/// the payload.
#[derive(Clone)]
pub struct Message {
    routing_key: String,
    tenant_id: Option<String>,
    job_id: Option<String>,
    payload: Vec<u8>,
}

impl Message {
    /// A message with `routing_key` and `payload`, for no particular tenant or job.
    pub fn new(routing_key: impl Into<String>, payload: impl Into<Vec<u8>>) -> Message {
        Message {
            routing_key: routing_key.into(),
            tenant_id: None,
            job_id: None,
            payload: payload.into(),
        }
    }

    /// Sets the tenant the message belongs to (subscribers filtered by tenant see it).
    pub fn with_tenant_id(mut self, tenant: impl Into<String>) -> Message {
        self.tenant_id = Some(tenant.into());
        self
    }

    /// Sets the job the message belongs to.
    pub fn with_job_id(mut self, job: impl Into<String>) -> Message {
        self.job_id = Some(job.into());
        self
    }

    /// The routing key.
    pub fn routing_key(&self) -> &str {
        &self.routing_key
    }

    /// The tenant, when known.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }

    /// The job, when known.
    pub fn job_id(&self) -> Option<&str> {
        self.job_id.as_deref()
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("routing_key", &self.routing_key)
            .field("tenant_id", &self.tenant_id)
            .field("job_id", &self.job_id)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// Which messages a subscriber receives: all of them, or those of one tenant and/or one job.
/// A message whose tenant (job) is unknown never matches a filter on tenant (job).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub(crate) tenant_id: Option<String>,
    pub(crate) job_id: Option<String>,
}

impl Filter {
    /// Every message.
    pub fn all() -> Filter {
        Filter::default()
    }

    /// Only messages of `tenant`.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Filter {
        self.tenant_id = Some(tenant.into());
        self
    }

    /// Only messages of `job`.
    pub fn job(mut self, job: impl Into<String>) -> Filter {
        self.job_id = Some(job.into());
        self
    }

    /// The tenant filtered on.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }

    /// The job filtered on.
    pub fn job_id(&self) -> Option<&str> {
        self.job_id.as_deref()
    }

    pub(crate) fn matches(&self, m: &Message) -> bool {
        let ok = |want: &Option<String>, got: &Option<String>| match want {
            None => true,
            Some(w) => got.as_deref() == Some(w.as_str()),
        };
        ok(&self.tenant_id, &m.tenant_id) && ok(&self.job_id, &m.job_id)
    }
}

/// Tenant and job read from a dot-separated routing key: the segment after `tenant` or `team`
/// is the tenant, the segment after `job` is the job (`events.tenant.t1.job.42` gives `t1` and
/// `42`). Sources use it when the message carries no `tenant_id` / `job_id` header.
pub fn ids_from_routing_key(key: &str) -> (Option<String>, Option<String>) {
    let parts: Vec<&str> = key.split('.').collect();
    let mut tenant = None;
    let mut job = None;
    for w in parts.windows(2) {
        match w[0] {
            "tenant" | "team" if tenant.is_none() && !w[1].is_empty() => {
                tenant = Some(w[1].to_owned())
            }
            "job" if job.is_none() && !w[1].is_empty() => job = Some(w[1].to_owned()),
            _ => {}
        }
    }
    (tenant, job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_payload() {
        let m = Message::new("k", "CANARY-payload");
        let d = format!("{m:?}");
        assert!(!d.contains("CANARY"), "{d}");
        assert!(d.contains("payload_len: 14"), "{d}");
    }

    #[test]
    fn routing_key_ids() {
        assert_eq!(
            ids_from_routing_key("events.tenant.t1.job.42"),
            (Some("t1".into()), Some("42".into()))
        );
        assert_eq!(
            ids_from_routing_key("team.a.progress"),
            (Some("a".into()), None)
        );
        assert_eq!(ids_from_routing_key("job"), (None, None));
    }

    #[test]
    fn filters() {
        let m = Message::new("k", "").with_tenant_id("t1").with_job_id("j");
        assert!(Filter::all().matches(&m));
        assert!(Filter::all().tenant("t1").matches(&m));
        assert!(!Filter::all().tenant("t2").matches(&m));
        assert!(Filter::all().tenant("t1").job("j").matches(&m));
        assert!(!Filter::all().job("j").matches(&Message::new("k", "")));
    }
}
