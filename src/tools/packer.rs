//! packer's `-machine-readable` output: `timestamp,target,type,data...`, with
//! commas inside data written as `%!(PACKER_COMMA)` and newlines as `\n`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineLine {
    pub timestamp: i64,
    pub target: String,
    pub kind: String,
    pub data: Vec<String>,
}

pub fn parse_line(line: &str) -> Option<MachineLine> {
    let mut parts = line.splitn(4, ',');
    let timestamp = parts.next()?.parse().ok()?;
    let target = parts.next()?.to_owned();
    let kind = parts.next()?.to_owned();
    let data = parts.next().map(|d| d.split(',').map(unescape).collect()).unwrap_or_default();
    Some(MachineLine { timestamp, target, kind, data })
}

fn unescape(s: &str) -> String {
    s.replace("%!(PACKER_COMMA)", ",").replace("\\n", "\n").replace("\\r", "")
}

impl MachineLine {
    /// The human text of a `ui` line: (`say` | `message` | `error`, text).
    pub fn ui(&self) -> Option<(&str, &str)> {
        match (self.kind.as_str(), self.data.as_slice()) {
            ("ui", [level, text, ..]) => Some((level.as_str(), text.as_str())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ui_and_artifact_lines() {
        let l = parse_line("1795318318,,ui,say,==> amazon-ebs: No volumes to clean up%!(PACKER_COMMA) skipping").unwrap();
        assert_eq!(l.ui(), Some(("say", "==> amazon-ebs: No volumes to clean up, skipping")));
        let l = parse_line("1795318318,amazon-ebs,artifact,0,id,us-east-1:ami-1%!(PACKER_COMMA)us-west-2:ami-2").unwrap();
        assert_eq!(l.target, "amazon-ebs");
        assert_eq!(l.data, vec!["0", "id", "us-east-1:ami-1,us-west-2:ami-2"]);
        let l = parse_line("1795318318,,ui,error,Build 'amazon-ebs' errored: boom\\nmore").unwrap();
        assert_eq!(l.ui(), Some(("error", "Build 'amazon-ebs' errored: boom\nmore")));
        assert_eq!(parse_line("not machine readable"), None);
    }
}
