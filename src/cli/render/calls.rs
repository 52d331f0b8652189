//! `-v`: the AWS API calls a command made, per account and region (from `aws::calls`), the STS
//! AssumeRole calls per calling account, and where each account's credentials came from
//! (`aws::credentials`).

/// One line per account/region, then the total; empty when nothing was called.
pub fn calls_text(counts: &[((String, String), u64)]) -> String {
    if counts.is_empty() {
        return String::new();
    }
    let mut out = String::from("API calls per account/region (attempts, retries included):\n");
    for ((account, region), n) in counts {
        out.push_str(&format!("  {account} {region}: {n}\n"));
    }
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    out.push_str(&format!("  total: {total}\n"));
    out
}

/// The attempts AWS answered with a throttling error, per account/region (retried by the SDK;
/// under hard throttling amishare also ran fewer operations at once); empty when none were.
pub fn throttled_text(counts: &[((String, String), u64)]) -> String {
    if counts.is_empty() {
        return String::new();
    }
    let mut out = String::from("Throttled attempts per account/region (retried):\n");
    for ((account, region), n) in counts {
        out.push_str(&format!("  {account} {region}: {n}\n"));
    }
    out
}

/// The STS AssumeRole attempts per calling account (one per target account and launcher role
/// is the expected number); empty when none were made.
pub fn assume_role_text(counts: &[(String, u64)]) -> String {
    if counts.is_empty() {
        return String::new();
    }
    let mut out = String::from("STS AssumeRole attempts per calling account:\n");
    for (account, n) in counts {
        out.push_str(&format!("  {account}: {n}\n"));
    }
    out
}

/// Where each account's credentials came from, per (account, role in the run); never a secret.
pub fn credentials_text(sources: &[((String, String), String)]) -> String {
    if sources.is_empty() {
        return String::new();
    }
    let mut out = String::from("Credentials per account:\n");
    for ((account, role), source) in sources {
        out.push_str(&format!("  {account} ({role}): {source}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_total() {
        let c = vec![
            (("111122223333".to_string(), "us-east-1".to_string()), 12),
            (("444455556666".to_string(), "us-west-2".to_string()), 7),
        ];
        assert_eq!(
            calls_text(&c),
            "API calls per account/region (attempts, retries included):\n  111122223333 us-east-1: 12\n  444455556666 us-west-2: 7\n  total: 19\n"
        );
        assert_eq!(calls_text(&[]), "");
        assert_eq!(
            throttled_text(&c[1..]),
            "Throttled attempts per account/region (retried):\n  444455556666 us-west-2: 7\n"
        );
        assert_eq!(throttled_text(&[]), "");
        assert_eq!(
            assume_role_text(&[("111122223333".to_string(), 2)]),
            "STS AssumeRole attempts per calling account:\n  111122223333: 2\n"
        );
        let src = (
            ("111122223333".to_string(), "source".to_string()),
            "environment".to_string(),
        );
        assert_eq!(
            credentials_text(&[src]),
            "Credentials per account:\n  111122223333 (source): environment\n"
        );
        assert_eq!(credentials_text(&[]), "");
    }
}
