//! The two-sample Kolmogorov-Smirnov test, for R19 ("same timing"): are the latencies of the
//! known and the unknown case drawn from one distribution?

/// The KS statistic D (the largest gap between the two empirical distribution functions)
/// and its asymptotic p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    pub d: f64,
    pub p: f64,
}

/// Compares two samples; both must be non-empty.
pub fn two_sample(a: &[f64], b: &[f64]) -> Option<KsResult> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0.0f64);
    while i < a.len() && j < b.len() {
        // Step past every value equal to the smaller head in both samples, so that ties
        // do not create a gap that is not there.
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    let ne = n * m / (n + m);
    let lambda = (ne.sqrt() + 0.12 + 0.11 / ne.sqrt()) * d;
    Some(KsResult {
        d,
        p: kolmogorov_q(lambda),
    })
}

/// Q(λ) = 2 Σ (-1)^(k-1) e^(-2 k² λ²): the probability of a gap at least this large when
/// both samples come from one distribution (Numerical Recipes' `probks`).
fn kolmogorov_q(lambda: f64) -> f64 {
    if lambda < 1e-3 {
        return 1.0;
    }
    let mut sum = 0.0;
    let mut sign = 1.0;
    for k in 1..=100 {
        let k = f64::from(k);
        let term = sign * 2.0 * (-2.0 * k * k * lambda * lambda).exp();
        sum += term;
        if term.abs() < 1e-10 {
            return sum.clamp(0.0, 1.0);
        }
        sign = -sign;
    }
    // The series did not converge: λ is so small that the samples are indistinguishable.
    1.0
}

/// The median of a sample (the mean of the middle two for an even count).
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_distribution_gives_a_large_p_and_a_shift_a_small_one() {
        // Deterministic "uniform" samples: the same grid, interleaved.
        let a: Vec<f64> = (0..500).map(|i| f64::from(i) * 2.0).collect();
        let b: Vec<f64> = (0..500).map(|i| f64::from(i) * 2.0 + 1.0).collect();
        let same = two_sample(&a, &b).unwrap();
        assert!(same.p > 0.5, "{same:?}");

        let shifted: Vec<f64> = a.iter().map(|x| x + 200.0).collect();
        let diff = two_sample(&a, &shifted).unwrap();
        assert!((diff.d - 0.2).abs() < 0.01, "{diff:?}");
        assert!(diff.p < 1e-6, "{diff:?}");
    }

    #[test]
    fn ties_do_not_make_a_gap() {
        let a = vec![1.0; 100];
        let b = vec![1.0; 50];
        let r = two_sample(&a, &b).unwrap();
        assert!(r.d.abs() < f64::EPSILON);
        assert!((r.p - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn known_critical_value() {
        // For n = m = 100 the 5 % critical D is about 0.19 (1.36 × sqrt(2/100)).
        let a: Vec<f64> = (0..100).map(f64::from).collect();
        let b: Vec<f64> = (0..100).map(|i| f64::from(i) + 19.0).collect();
        let r = two_sample(&a, &b).unwrap();
        assert!((r.d - 0.19).abs() < 1e-9, "{r:?}");
        assert!((0.03..0.07).contains(&r.p), "{r:?}");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert!((median(&[3.0, 1.0, 2.0]) - 2.0).abs() < f64::EPSILON);
        assert!((median(&[4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < f64::EPSILON);
        assert!(median(&[]).is_nan());
    }
}
