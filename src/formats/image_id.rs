//! AWS image ids: `ami-` followed by 8 (old) or 17 (current) lowercase hex digits.

pub fn is_valid(id: &str) -> bool {
    id.strip_prefix("ami-")
        .is_some_and(|hex| (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

pub const HINT: &str =
    "an AMI id is `ami-` followed by 8 or 17 lowercase hex digits; copy it again from the EC2 console or `aws ec2 describe-images`";

/// Packer templates may take values from variables (`{{user `x`}}`); those are
/// resolved by packer, not checked here.
pub fn is_templated(value: &str) -> bool {
    value.contains("{{")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_both_lengths_only() {
        assert!(is_valid("ami-03cf127a"));
        assert!(is_valid("ami-0a248ce88bcc7bd23"));
        assert!(!is_valid("ami-0a248ce88bcc7bd2"));
        assert!(!is_valid("ami-0A248CE8"));
        assert!(!is_valid("ami-0a248ce8 "));
        assert!(!is_valid("0a248ce88bcc7bd23"));
        assert!(!is_valid("ami-zzzzzzzz"));
    }
}
