//! The manifest `localstack/deploy.py` writes after deploying `infra/template.yaml` into the emulator: the
//! stack's resources and, for every function of the template, its binary, environment, routes, queues and
//! schedules. The local host serves exactly what the template declares.

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub endpoint: String,
    pub region: String,
    pub stack: String,
    #[serde(default)]
    pub edition: String,
    #[serde(default)]
    pub outputs: HashMap<String, String>,
    pub functions: BTreeMap<String, FunctionSpec>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionSpec {
    pub binary: String,
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    #[serde(default)]
    pub environment: HashMap<String, String>,
    #[serde(default)]
    pub http: Vec<HttpRoute>,
    #[serde(default)]
    pub sqs: Vec<SqsSource>,
    #[serde(default)]
    pub schedules: Vec<Schedule>,
}

fn default_timeout() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpRoute {
    pub method: String,
    pub path: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SqsSource {
    pub queue_url: String,
    #[serde(default)]
    pub queue_arn: String,
    #[serde(default = "default_batch")]
    pub batch_size: i32,
    #[serde(default)]
    pub report_batch_item_failures: bool,
}

fn default_batch() -> i32 {
    10
}

#[derive(Debug, Clone, Deserialize)]
pub struct Schedule {
    pub expression: String,
}

impl Manifest {
    pub fn load(path: &std::path::Path) -> Result<Manifest, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("bad manifest {}: {e}", path.display()))
    }

    pub fn output(&self, name: &str) -> Result<&str, String> {
        self.outputs
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("manifest has no output {name}"))
    }
}

/// The period of an EventBridge `rate(...)` expression. `cron(...)` is not interpreted locally (fire such
/// functions through the host's invoke route).
pub fn rate_period(expr: &str) -> Option<std::time::Duration> {
    let inner = expr.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let mut parts = inner.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    let unit = parts.next()?;
    let secs = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(n * secs))
}

#[cfg(test)]
mod tests {
    use super::rate_period;
    use std::time::Duration;

    #[test]
    fn rate_expressions() {
        assert_eq!(rate_period("rate(1 minute)"), Some(Duration::from_secs(60)));
        assert_eq!(
            rate_period("rate(5 minutes)"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            rate_period("rate(2 hours)"),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(rate_period("cron(0 8 ? * MON *)"), None);
    }
}
