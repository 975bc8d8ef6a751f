//! `memwarden rules`: Prometheus alerting rules for the metrics of `--metrics` — a leak called,
//! memory that runs out within a day (warning) or four hours (critical), a limit reached, OOM
//! kills. Unlike `predict_linear` over raw memory, the time to the limit comes from the
//! detector's floor, so start-up growth and a garbage collector's saw do not fire it.

/// The rules, as a Prometheus rule file.
pub const RULES: &str = r#"# Alerting rules for memwarden's metrics (`memwarden run|watch|top --metrics ADDR`).
# Load with `rule_files: [memwarden-rules.yml]` in prometheus.yml; check with
# `promtool check rules memwarden-rules.yml`.
groups:
  - name: memwarden
    rules:
      - alert: MemwardenLeak
        expr: memwarden_tree_verdict{kind="leak"} == 1
        for: 1m
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.label }} ({{ $labels.tree }}) on {{ $labels.instance }} is leaking memory"
          description: "memwarden's detector called a leak: the tree's memory floor keeps rising. See `memwarden report` on the host for the verdict's reason."
      - alert: MemwardenMemoryRunsOutWithinADay
        expr: memwarden_tree_time_to_limit_seconds < 86400
        for: 10m
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.label }} ({{ $labels.tree }}) on {{ $labels.instance }} reaches its memory limit in {{ $value | humanizeDuration }}"
          description: "At the rate its memory floor grows, the tree reaches the nearest limit (its --limit, its cgroup's limit, or the machine's available memory) within a day."
      - alert: MemwardenMemoryRunsOutWithinFourHours
        expr: memwarden_tree_time_to_limit_seconds < 14400
        for: 5m
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.label }} ({{ $labels.tree }}) on {{ $labels.instance }} reaches its memory limit in {{ $value | humanizeDuration }}"
          description: "At the rate its memory floor grows, the tree reaches the nearest limit within four hours."
      - alert: MemwardenLimitReached
        expr: increase(memwarden_events_total{kind="limit"}[10m]) > 0
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.label }} ({{ $labels.tree }}) on {{ $labels.instance }} reached its memory limit"
          description: "memwarden stopped the tree at its limit, or the kernel acted at it."
      - alert: MemwardenOomKill
        expr: increase(memwarden_events_total{kind="oom-kill"}[10m]) > 0
        labels:
          severity: critical
        annotations:
          summary: "The kernel's OOM killer killed processes of {{ $labels.label }} ({{ $labels.tree }}) on {{ $labels.instance }}"
          description: "The tree's cgroup reached its kernel limit and the kernel killed in it."
"#;

/// Unit tests of [`RULES`] for `promtool test rules` (the rule file named `memwarden-rules.yml`
/// beside it).
pub const RULE_TESTS: &str = r#"rule_files:
  - memwarden-rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'memwarden_tree_verdict{label="svc",tree="run",kind="leak",instance="h:9464",job="memwarden"}'
        values: '0 0 1 1 1 1'
      # A group of `memwarden top --by cgroup`: its label is the group, its tree the grouping.
      - series: 'memwarden_tree_verdict{label="nginx.service",tree="cgroup",kind="leak",instance="h:9464",job="memwarden"}'
        values: '0 0 1 1 1 1'
      - series: 'memwarden_tree_time_to_limit_seconds{label="svc",tree="run",instance="h:9464",job="memwarden"}'
        values: '90000 80000 70000 60000 50000 40000 30000 20000 13000 12000 11000 10000 9000 8000 7000 6000 5000'
      - series: 'memwarden_events_total{label="svc",tree="run",kind="limit",instance="h:9464",job="memwarden"}'
        values: '0 0 0 1 1'
      - series: 'memwarden_events_total{label="svc",tree="run",kind="oom-kill",instance="h:9464",job="memwarden"}'
        values: '0 0 0 0 0'
    alert_rule_test:
      - eval_time: 1m
        alertname: MemwardenLeak
        exp_alerts: []
      - eval_time: 4m
        alertname: MemwardenLeak
        exp_alerts:
          - exp_labels: {severity: warning, label: svc, tree: run, kind: leak, instance: "h:9464", job: memwarden}
            exp_annotations:
              summary: "svc (run) on h:9464 is leaking memory"
              description: "memwarden's detector called a leak: the tree's memory floor keeps rising. See `memwarden report` on the host for the verdict's reason."
          - exp_labels: {severity: warning, label: nginx.service, tree: cgroup, kind: leak, instance: "h:9464", job: memwarden}
            exp_annotations:
              summary: "nginx.service (cgroup) on h:9464 is leaking memory"
              description: "memwarden's detector called a leak: the tree's memory floor keeps rising. See `memwarden report` on the host for the verdict's reason."
      - eval_time: 12m
        alertname: MemwardenMemoryRunsOutWithinADay
        exp_alerts:
          - exp_labels: {severity: warning, label: svc, tree: run, instance: "h:9464", job: memwarden}
            exp_annotations:
              summary: "svc (run) on h:9464 reaches its memory limit in 2h 30m 0s"
              description: "At the rate its memory floor grows, the tree reaches the nearest limit (its --limit, its cgroup's limit, or the machine's available memory) within a day."
      - eval_time: 12m
        alertname: MemwardenMemoryRunsOutWithinFourHours
        exp_alerts: []
      - eval_time: 14m
        alertname: MemwardenMemoryRunsOutWithinFourHours
        exp_alerts:
          - exp_labels: {severity: critical, label: svc, tree: run, instance: "h:9464", job: memwarden}
            exp_annotations:
              summary: "svc (run) on h:9464 reaches its memory limit in 1h 56m 40s"
              description: "At the rate its memory floor grows, the tree reaches the nearest limit within four hours."
      - eval_time: 5m
        alertname: MemwardenLimitReached
        exp_alerts:
          - exp_labels: {severity: critical, label: svc, tree: run, kind: limit, instance: "h:9464", job: memwarden}
            exp_annotations:
              summary: "svc (run) on h:9464 reached its memory limit"
              description: "memwarden stopped the tree at its limit, or the kernel acted at it."
      - eval_time: 4m
        alertname: MemwardenOomKill
        exp_alerts: []
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_use_only_metrics_memwarden_exports() {
        for line in RULES
            .lines()
            .filter_map(|l| l.trim().strip_prefix("expr: "))
        {
            let name: String = line
                .trim_start_matches("increase(")
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let known = super::super::NAMES
                .iter()
                .any(|n| name == *n || name == format!("{n}_total"));
            assert!(known, "{name} in `{line}` is not exported");
        }
    }
}
