//! The arithmetic that turns a model's outputs into a probability, in f64.

/// The logistic function in f64, stable for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// A numerically stable softmax; non-finite inputs give non-finite outputs.
pub fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return vec![f64::NAN; z.len()];
    }
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_of_two_is_the_sigmoid_of_the_difference() {
        for (a, b) in [(0.0, 0.0), (3.0, -1.5), (-20.0, 15.0), (800.0, 790.0)] {
            let p = softmax(&[a, b]);
            assert!((p[0] - sigmoid(a - b)).abs() < 1e-15);
            assert!((p[0] + p[1] - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn softmax_refuses_non_finite_values() {
        assert!(softmax(&[f64::NAN, 1.0]).iter().all(|p| p.is_nan()));
        assert!(softmax(&[f64::INFINITY, 1.0]).iter().all(|p| p.is_nan()));
    }
}
