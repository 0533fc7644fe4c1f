//! Findings as text (one `file:line:column: rule: why` line and a `fix:` line each), JSON, or
//! SARIF 2.1.0 (for code-scanning viewers).

use serde_json::{Value, json};

use crate::{Finding, Rule};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

pub fn render(findings: &[Finding], format: Format) -> String {
    match format {
        Format::Text => text(findings),
        Format::Json => {
            let items: Vec<Value> = findings.iter().map(finding_json).collect();
            format!("{:#}\n", Value::Array(items))
        }
        Format::Sarif => format!("{:#}\n", sarif(findings)),
    }
}

fn text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!(
            "{}:{}:{}: {}: {}\n    fix: {}\n",
            f.file.display(),
            f.line,
            f.column,
            f.rule.id(),
            f.why,
            f.fix
        ));
    }
    out
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "file": f.file.display().to_string(),
        "line": f.line,
        "column": f.column,
        "rule": f.rule.id(),
        "why": f.why,
        "fix": f.fix,
    })
}

fn sarif(findings: &[Finding]) -> Value {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|r| json!({"id": r.id(), "shortDescription": {"text": r.summary()}}))
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.rule.id(),
                "ruleIndex": Rule::ALL.iter().position(|r| *r == f.rule),
                "level": "error",
                "message": {"text": format!("{} Fix: {}", f.why, f.fix)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": f.file.display().to_string()},
                    "region": {"startLine": f.line, "startColumn": f.column},
                }}],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "isoforge lint-ci",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}
