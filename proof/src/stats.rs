//! Small statistics over measured samples: percentiles (nearest rank).

/// The `p`-th percentile (0–100, clamped) of `sorted` (ascending) by the
/// nearest-rank method: the smallest sample with at least `p`% of the
/// samples at or below it. `None` when there are no samples.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]), "not sorted");
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_on_a_hundred_samples() {
        let samples: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50));
        assert_eq!(percentile(&samples, 99.0), Some(99));
        assert_eq!(percentile(&samples, 99.5), Some(100));
        assert_eq!(percentile(&samples, 100.0), Some(100));
        assert_eq!(percentile(&samples, 0.0), Some(1));
    }

    #[test]
    fn small_and_empty_sets() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.0), Some(7));
        // Four samples: the median is the second, p99 the last.
        let four = [10, 20, 30, 40];
        assert_eq!(percentile(&four, 50.0), Some(20));
        assert_eq!(percentile(&four, 99.0), Some(40));
        assert_eq!(percentile(&four, 75.0), Some(30));
        assert_eq!(percentile(&four, 76.0), Some(40));
    }

    #[test]
    fn out_of_range_percentiles_are_clamped() {
        let samples = [1, 2, 3];
        assert_eq!(percentile(&samples, -5.0), Some(1));
        assert_eq!(percentile(&samples, 250.0), Some(3));
    }
}
