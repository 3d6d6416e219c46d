//! B-cubed precision, recall and F1 of a clustering against a reference labelling
//! (Bagga & Baldwin 1998; Amigó, Gonzalo, Artiles & Verdejo, "A comparison of extrinsic
//! clustering evaluation metrics based on formal constraints", 2009). Campbell et al.
//! (MSR 2016) score crash deduplication with it, and so do we: the simulator's `truth.json`
//! says which problem each dump belongs to, the analytics say which cluster it landed in.
//!
//! Per item e: precision(e) = |items sharing e's cluster AND e's label| / |e's cluster|,
//! recall(e) = the same count / |e's label|. Precision and recall are the averages over all
//! items; F1 is their harmonic mean (Amigó's F with α = 0.5).
//!
//! Computed from the contingency counts n(c, l) in O(n) rather than per item in O(n²):
//! Σ_e precision(e) = Σ_(c,l) n(c,l)² / |c| and Σ_e recall(e) = Σ_(c,l) n(c,l)² / |l|.

use std::collections::HashMap;
use std::hash::Hash;

/// The three B-cubed figures, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BCubed {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// How many items were scored.
    pub items: usize,
}

/// Scores `pairs` of (predicted cluster, reference label), one pair per item.
/// An empty input scores 1.0 everywhere (nothing was mis-clustered), with `items: 0`.
pub fn bcubed<C, L, I>(pairs: I) -> BCubed
where
    C: Hash + Eq,
    L: Hash + Eq,
    I: IntoIterator<Item = (C, L)>,
{
    // Intern both label kinds to dense indexes so the joint counts key on (u32, u32).
    let mut cluster_ids: HashMap<C, u32> = HashMap::new();
    let mut label_ids: HashMap<L, u32> = HashMap::new();
    let mut joint: HashMap<(u32, u32), u64> = HashMap::new();
    let mut cluster_size: Vec<u64> = Vec::new();
    let mut label_size: Vec<u64> = Vec::new();
    let mut items = 0usize;
    for (cluster, label) in pairs {
        let next_c = cluster_ids.len() as u32;
        let c = *cluster_ids.entry(cluster).or_insert(next_c);
        if c as usize == cluster_size.len() {
            cluster_size.push(0);
        }
        let next_l = label_ids.len() as u32;
        let l = *label_ids.entry(label).or_insert(next_l);
        if l as usize == label_size.len() {
            label_size.push(0);
        }
        cluster_size[c as usize] += 1;
        label_size[l as usize] += 1;
        *joint.entry((c, l)).or_insert(0) += 1;
        items += 1;
    }
    if items == 0 {
        return BCubed {
            precision: 1.0,
            recall: 1.0,
            f1: 1.0,
            items: 0,
        };
    }
    let mut precision_sum = 0.0f64;
    let mut recall_sum = 0.0f64;
    for (&(c, l), &n) in &joint {
        let n2 = (n as f64) * (n as f64);
        precision_sum += n2 / cluster_size[c as usize] as f64;
        recall_sum += n2 / label_size[l as usize] as f64;
    }
    let precision = precision_sum / items as f64;
    let recall = recall_sum / items as f64;
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    BCubed {
        precision,
        recall,
        f1,
        items,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn score(predicted: &[&str], truth: &[&str]) -> BCubed {
        bcubed(predicted.iter().copied().zip(truth.iter().copied()))
    }

    #[test]
    fn identical_partitions_score_one_whatever_the_names() {
        let s = score(&["x", "x", "y", "z"], &["a", "a", "b", "c"]);
        assert!(close(s.precision, 1.0) && close(s.recall, 1.0) && close(s.f1, 1.0));
        assert_eq!(s.items, 4);
    }

    #[test]
    fn one_misplaced_item_by_hand() {
        // truth a a a b b, predicted x x y y y. Contingency: (x,a)=2 (y,a)=1 (y,b)=2;
        // |x|=2 |y|=3 |a|=3 |b|=2. Per item precision: 2/2,2/2,1/3,2/3,2/3 -> sum 11/3,
        // recall: 2/3,2/3,1/3,2/2,2/2 -> sum 11/3. Both = 11/15, F1 = 11/15.
        let s = score(&["x", "x", "y", "y", "y"], &["a", "a", "a", "b", "b"]);
        assert!(close(s.precision, 11.0 / 15.0), "{s:?}");
        assert!(close(s.recall, 11.0 / 15.0), "{s:?}");
        assert!(close(s.f1, 11.0 / 15.0), "{s:?}");
    }

    #[test]
    fn everything_in_one_cluster() {
        // truth a a b b b c in one cluster of 6: precision = (2²+3²+1²)/6 / 6 = 14/36,
        // recall = 1, F1 = 2·(14/36) / (1 + 14/36) = 28/50.
        let s = score(&["k"; 6], &["a", "a", "b", "b", "b", "c"]);
        assert!(close(s.precision, 14.0 / 36.0), "{s:?}");
        assert!(close(s.recall, 1.0));
        assert!(close(s.f1, 28.0 / 50.0), "{s:?}");
    }

    #[test]
    fn all_singletons() {
        // Precision 1; recall = Σ_labels |l|·(1/|l|) / n = labels / n = 3/6; F1 = 2/3.
        let s = score(
            &["1", "2", "3", "4", "5", "6"],
            &["a", "a", "b", "b", "b", "c"],
        );
        assert!(close(s.precision, 1.0));
        assert!(close(s.recall, 0.5));
        assert!(close(s.f1, 2.0 / 3.0));
    }

    #[test]
    fn rag_bag_constraint_of_amigo_et_al() {
        // Amigó et al.'s "rag bag" constraint: putting a stray item into a cluster that is
        // already a mix of unrelated items hurts less than putting it into a clean cluster.
        // Truth: a a a a | b | c | d | e, plus a stray item s.
        let truth = ["a", "a", "a", "a", "b", "c", "d", "e", "s"];
        let into_clean = ["A", "A", "A", "A", "bag", "bag", "bag", "bag", "A"];
        let into_bag = ["A", "A", "A", "A", "bag", "bag", "bag", "bag", "bag"];
        let clean = score(&into_clean, &truth);
        let bag = score(&into_bag, &truth);
        assert!(bag.precision > clean.precision, "{bag:?} vs {clean:?}");
        // By hand: into_bag: A is pure (4 items of precision 1), bag has 5 singletons of
        // precision 1/5 each -> (4 + 1) / 9.
        assert!(close(bag.precision, 5.0 / 9.0), "{bag:?}");
        // into_clean: A = a a a a s -> 4 items 4/5 + s 1/5 = 17/5; bag of 4 singletons 1/4
        // each -> 1; total (17/5 + 1) / 9 = 22/45.
        assert!(close(clean.precision, 22.0 / 45.0), "{clean:?}");
    }

    #[test]
    fn cluster_completeness_constraint() {
        // Splitting a true class over two clusters lowers recall, keeps precision at 1:
        // a a a a split 2 + 2 -> recall per a = 2/4, b b -> 1: (4·0.5 + 2) / 6 = 2/3.
        let s = score(
            &["x", "x", "y", "y", "z", "z"],
            &["a", "a", "a", "a", "b", "b"],
        );
        assert!(close(s.precision, 1.0));
        assert!(close(s.recall, 2.0 / 3.0), "{s:?}");
    }

    #[test]
    fn empty_input() {
        let s = bcubed(Vec::<(u32, u32)>::new());
        assert_eq!(s.items, 0);
        assert!(close(s.f1, 1.0));
    }
}
