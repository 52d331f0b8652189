//! `-v`: the AWS API calls a command made, per account and region (from `aws::calls`).

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
    }
}
