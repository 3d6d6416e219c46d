//! Stack similarity in the spirit of ReBucket's Position Dependent Model (Dang et al.,
//! ICSE 2012), used to link near-duplicate signatures inside one driver cluster.
//!
//! Two stacks are compared frame by frame from the top. An aligned pair of identical frames
//! at positions i and j (0 = top) scores `e^(-c·min(i,j)) · e^(-o·|i-j|)`: frames near the
//! crash point matter more (`c`), and frames that had to shift to line up count less (`o`).
//! The best monotone alignment is found by dynamic programming (like a weighted longest
//! common subsequence) and divided by `Σ_{l < min(len)} e^(-c·l)`, the score of two identical
//! stacks of the shorter length, so the similarity lies in [0, 1].
//!
//! Signatures differ for reasons that are noise to a person triaging: an unsymbolized driver
//! that faults at two offsets of the same routine (`csagent.sys@0xe14ed` vs `@0xe14f3`), or
//! one extra inlined helper. Their stacks below the top frame are the same, so PDM rates them
//! close; the clusters stay separate (signatures are deterministic, as Socorro's are) and the
//! report lists them as `related`.

use std::collections::HashMap;

/// PDM parameters and the linking threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimilarityParams {
    /// Position coefficient: how fast a frame's weight falls with its depth.
    pub c: f64,
    /// Alignment-offset coefficient: the penalty for matching frames at different depths.
    pub o: f64,
    /// Signatures whose representative stacks score at least this are linked as related.
    pub threshold: f64,
    /// Frames compared per stack (Socorro considers 40).
    pub max_frames: usize,
    /// Signatures compared per driver cluster (the largest by crashes); pairs are quadratic.
    pub max_signatures_per_driver: usize,
}

impl Default for SimilarityParams {
    /// c = 0.2 keeps the 10th frame at e^-2 ≈ 14 % of the top frame's weight, so two stacks
    /// that differ only in the top frame score about 0.8 at depth 10; o = 0.5 makes a
    /// one-frame shift cost 40 % of a frame's weight. Threshold 0.75: two stacks that differ
    /// in their top frame and share the rest link; stacks that share only the bugcheck
    /// machinery (removed before comparison) or a common caller deep down do not.
    fn default() -> Self {
        SimilarityParams {
            c: 0.2,
            o: 0.5,
            threshold: 0.75,
            max_frames: 40,
            max_signatures_per_driver: 200,
        }
    }
}

/// The PDM similarity of two frame sequences (top first). Frames compare by equality.
pub fn pdm_similarity<T: PartialEq>(a: &[T], b: &[T], c: f64, o: f64) -> f64 {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return 0.0;
    }
    // Two rows of the (n+1)×(m+1) table suffice.
    let mut prev = vec![0.0f64; m + 1];
    let mut cur = vec![0.0f64; m + 1];
    for i in 1..=n {
        cur[0] = 0.0;
        for j in 1..=m {
            let mut best = prev[j].max(cur[j - 1]);
            if a[i - 1] == b[j - 1] {
                let (pi, pj) = ((i - 1) as f64, (j - 1) as f64);
                let gain = (-c * pi.min(pj)).exp() * (-o * (pi - pj).abs()).exp();
                best = best.max(prev[j - 1] + gain);
            }
            cur[j] = best;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let shorter = n.min(m);
    let norm: f64 = (0..shorter).map(|l| (-c * l as f64).exp()).sum();
    if norm > 0.0 {
        (prev[m] / norm).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// One frame in the normalized form used for comparison: `module!function` when symbolized,
/// `module@0xoffset` otherwise (Socorro's token for frames without symbols), `@0xaddress`
/// when the address is in no known module. Module names compare case-insensitively.
pub fn normalize_frame(
    module: Option<&str>,
    function: Option<&str>,
    offset: Option<&str>,
    address: Option<&str>,
) -> String {
    let module_lc = module.map(|m| m.to_ascii_lowercase());
    match (module_lc, function) {
        (Some(m), Some(f)) if !f.is_empty() => format!("{m}!{f}"),
        (Some(m), _) => format!("{m}@{}", offset.unwrap_or("?")),
        (None, Some(f)) if !f.is_empty() => f.to_string(),
        (None, _) => format!("@{}", address.unwrap_or("?")),
    }
}

/// Frames as interned ids, so the quadratic comparison compares integers, not strings.
#[derive(Debug, Default)]
pub struct FrameInterner {
    ids: HashMap<String, u32>,
}

impl FrameInterner {
    pub fn intern(&mut self, frame: String) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(frame).or_insert(next)
    }
}

/// A near-duplicate link between two signatures (indexes into the caller's list).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    pub a: usize,
    pub b: usize,
    pub similarity: f64,
}

/// Every pair among `stacks` (one driver cluster's representative stacks, interned) whose
/// similarity reaches the threshold. Only the first `max_signatures_per_driver` stacks are
/// compared: the caller orders them by crashes, so the big ones are never skipped.
pub fn link_related(stacks: &[Vec<u32>], params: &SimilarityParams) -> Vec<Link> {
    let limit = stacks.len().min(params.max_signatures_per_driver);
    let mut links = Vec::new();
    for a in 0..limit {
        for b in (a + 1)..limit {
            let (sa, sb) = (&stacks[a], &stacks[b]);
            let sa = &sa[..sa.len().min(params.max_frames)];
            let sb = &sb[..sb.len().min(params.max_frames)];
            let similarity = pdm_similarity(sa, sb, params.c, params.o);
            if similarity >= params.threshold {
                links.push(Link { a, b, similarity });
            }
        }
    }
    links
}

/// Union-find over `n` items: groups of items connected by `links` (transitively).
/// Returns, per item, the smallest item index of its group.
pub fn connected_groups(n: usize, links: &[Link]) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for link in links {
        if link.a >= n || link.b >= n {
            continue;
        }
        let (ra, rb) = (find(&mut parent, link.a), find(&mut parent, link.b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            parent[hi] = lo;
        }
    }
    (0..n).map(|x| find(&mut parent, x)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn identical_stacks_score_one() {
        let s = ["a", "b", "c", "d"];
        assert!(close(pdm_similarity(&s, &s, 0.2, 0.5), 1.0));
    }

    #[test]
    fn disjoint_stacks_score_zero() {
        assert!(close(
            pdm_similarity(&["a", "b"], &["c", "d"], 0.2, 0.5),
            0.0
        ));
        assert!(close(pdm_similarity::<&str>(&[], &["c"], 0.2, 0.5), 0.0));
    }

    #[test]
    fn different_top_frame_by_hand() {
        // x b c vs y b c, c = 1, o = 0: matches at (1,1) and (2,2) score e^-1 + e^-2;
        // the norm is 1 + e^-1 + e^-2.
        let e1 = (-1.0f64).exp();
        let e2 = (-2.0f64).exp();
        let want = (e1 + e2) / (1.0 + e1 + e2);
        let got = pdm_similarity(&["x", "b", "c"], &["y", "b", "c"], 1.0, 0.0);
        assert!(close(got, want), "{got} vs {want}");
    }

    #[test]
    fn shifted_frames_pay_the_offset_penalty() {
        // a b c vs a z b c, c = 0, o = 1: best alignment a-a (gain 1), b-b and c-c shifted
        // by one (e^-1 each); norm = 3 (c = 0, shorter length 3).
        let e1 = (-1.0f64).exp();
        let got = pdm_similarity(&["a", "b", "c"], &["a", "z", "b", "c"], 0.0, 1.0);
        assert!(close(got, (1.0 + 2.0 * e1) / 3.0), "{got}");
    }

    #[test]
    fn defaults_link_a_different_top_frame_but_not_a_shared_tail() {
        let p = SimilarityParams::default();
        let base: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
        let mut other_top = base.clone();
        other_top[0] = "csagent.sys@0xe14f3".into();
        let s = pdm_similarity(&base, &other_top, p.c, p.o);
        assert!(s >= p.threshold, "different top frame only: {s}");
        // Same last three frames (a common dispatcher), different everything above.
        let mut tail_only: Vec<String> = (0..10).map(|i| format!("g{i}")).collect();
        tail_only[7..].clone_from_slice(&base[7..]);
        let t = pdm_similarity(&base, &tail_only, p.c, p.o);
        assert!(t < p.threshold, "shared tail only: {t}");
    }

    #[test]
    fn frames_normalize_like_signatures() {
        assert_eq!(
            normalize_frame(Some("CSAgent.sys"), None, Some("0xe14ed"), None),
            "csagent.sys@0xe14ed"
        );
        assert_eq!(
            normalize_frame(Some("nt"), Some("KeBugCheckEx"), None, None),
            "nt!KeBugCheckEx"
        );
        assert_eq!(normalize_frame(None, None, None, Some("0x1234")), "@0x1234");
    }

    #[test]
    fn links_and_groups() {
        let stacks = vec![
            vec![1, 2, 3, 4, 5],
            vec![9, 2, 3, 4, 5],
            vec![7, 8],
            vec![1, 2, 3, 4, 5],
        ];
        let p = SimilarityParams {
            c: 0.2,
            o: 0.5,
            threshold: 0.5,
            max_frames: 40,
            max_signatures_per_driver: 10,
        };
        let links = link_related(&stacks, &p);
        let pairs: Vec<(usize, usize)> = links.iter().map(|l| (l.a, l.b)).collect();
        assert_eq!(pairs, vec![(0, 1), (0, 3), (1, 3)]);
        assert_eq!(connected_groups(4, &links), vec![0, 0, 2, 0]);
    }
}
