//! `isoforge verify --bisect`: which of build B's variations cause the difference.
//!
//! The search is pure logic over an oracle, "build with this subset of variations and say
//! whether the result equals build B's": build A is the empty set, build B the full one, and
//! every build made is remembered, so no subset is built twice.
//!
//! 1. The empty set is built once more. If that differs from A, the difference needs no
//!    variation: randomness or a clock inside a tool ([`Finding::NoVariation`]).
//! 2. Otherwise the smallest set of variations whose build equals B is found by halving: as
//!    if one variation were guilty first (one build per halving, and one to confirm: 5 or 6
//!    builds in all for one guilty among 12), then, if that does not hold, by QuickXplain,
//!    which finds every guilty variation.

use std::collections::BTreeMap;

use crate::variations::{Name, Set};

/// What a build with some subset of the variations gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The same artefacts as build A.
    LikeA,
    /// The same artefacts as build B.
    LikeB,
    /// Neither.
    Other,
}

/// The result of the search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A build with no variation at all already differs from build A.
    NoVariation { extra_builds: usize },
    /// Build B's result follows exactly these variations.
    Follows { set: Set, extra_builds: usize },
}

impl Finding {
    pub fn extra_builds(&self) -> usize {
        match self {
            Finding::NoVariation { extra_builds } | Finding::Follows { extra_builds, .. } => {
                *extra_builds
            }
        }
    }

    /// One line: "the difference follows `timezone` (2 extra builds)".
    pub fn line(&self) -> String {
        let builds = |n: usize| format!("{n} extra build{}", if n == 1 { "" } else { "s" });
        match self {
            Finding::NoVariation { extra_builds } => format!(
                "the difference needs no variation: a build like A, again, differs from A \
                 (randomness or a clock inside a tool) ({})",
                builds(*extra_builds)
            ),
            Finding::Follows { set, extra_builds } => {
                let names: Vec<String> = set.iter().map(|n| format!("`{n}`")).collect();
                let what = match names.as_slice() {
                    [] => "no variation (a build with none gives build B's result)".to_string(),
                    [one] => one.clone(),
                    many => format!("{} together", many.join(" + ")),
                };
                format!("the difference follows {what} ({})", builds(*extra_builds))
            }
        }
    }

    /// The cause and remedy for the diff reports' hints.
    pub fn hint(&self) -> (String, String) {
        match self {
            Finding::NoVariation { .. } => (
                format!("isoforge verify --bisect: {}", self.line()),
                "look for random data or the wall clock written by a tool or maintainer script \
                 (the diff names the files); seed or clamp it (SOURCE_DATE_EPOCH), or remove the \
                 file in cleanup (config/offenders.conf)"
                    .into(),
            ),
            Finding::Follows { set, .. } => (
                format!("isoforge verify --bisect: {}", self.line()),
                format!(
                    "the build depends on {}: make the step that writes the differing files \
                     independent of it (isoforge verify --vary {} reproduces it)",
                    set.iter().map(|n| n.value()).collect::<Vec<_>>().join("; "),
                    set.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(",")
                ),
            ),
        }
    }
}

/// Finds what B's difference follows. `all` is build B's set; `build` makes one build with a
/// subset and says how it compares (it is never called for `all`, which is B, and for the
/// empty set only once, to see whether A comes out again).
///
/// First it halves as if one variation were guilty (a half that gives A is left out, a half
/// that gives B is kept); the one left is confirmed by its own build. Any other answer (a half
/// giving neither, or the last one not confirmed) falls back to QuickXplain, which finds
/// every guilty variation.
pub fn search<E>(
    all: &Set,
    mut build: impl FnMut(&Set) -> Result<Outcome, E>,
) -> Result<Finding, E> {
    let mut extra = 0;
    if build(&Set::new())? != Outcome::LikeA {
        return Ok(Finding::NoVariation { extra_builds: 1 });
    }
    extra += 1;
    let mut known: BTreeMap<Set, Outcome> = BTreeMap::new();
    known.insert(Set::new(), Outcome::LikeA);
    known.insert(all.clone(), Outcome::LikeB);
    let mut outcome = |s: &Set| -> Result<Outcome, E> {
        if let Some(&o) = known.get(s) {
            return Ok(o);
        }
        extra += 1;
        let o = build(s)?;
        known.insert(s.clone(), o);
        Ok(o)
    };
    let mut current: Vec<Name> = all.iter().copied().collect();
    while current.len() > 1 {
        let (left, right) = current.split_at(current.len() / 2);
        match outcome(&left.iter().copied().collect())? {
            Outcome::LikeB => current = left.to_vec(),
            Outcome::LikeA => current = right.to_vec(),
            Outcome::Other => break,
        }
    }
    let set: Set = current.iter().copied().collect();
    let found = if outcome(&set)? == Outcome::LikeB {
        let mut test = |s: &Set| outcome(s).map(|o| o == Outcome::LikeB);
        if set.len() == 1 {
            set
        } else {
            minimal(&current, &Set::new(), &mut test)?
                .into_iter()
                .collect()
        }
    } else {
        let mut test = |s: &Set| outcome(s).map(|o| o == Outcome::LikeB);
        let candidates: Vec<Name> = all.iter().copied().collect();
        minimal(&candidates, &Set::new(), &mut test)?
            .into_iter()
            .collect()
    };
    Ok(Finding::Follows {
        set: found,
        extra_builds: extra,
    })
}

/// QuickXplain: given that `base` ∪ `candidates` passes, the smallest part of `candidates`
/// that, with `base`, still passes.
fn minimal<E>(
    candidates: &[Name],
    base: &Set,
    test: &mut impl FnMut(&Set) -> Result<bool, E>,
) -> Result<Vec<Name>, E> {
    if candidates.is_empty() || test(base)? {
        return Ok(Vec::new());
    }
    if candidates.len() == 1 {
        return Ok(candidates.to_vec());
    }
    let (left, right) = candidates.split_at(candidates.len() / 2);
    let with_right: Set = base.iter().chain(right).copied().collect();
    let from_left = minimal(left, &with_right, test)?;
    let with_left: Set = base.iter().chain(&from_left).copied().collect();
    let from_right = minimal(right, &with_left, test)?;
    Ok(from_left.into_iter().chain(from_right).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Set {
        Name::ALL.into_iter().collect()
    }

    /// A fake build: the image holds one line per leaking variation that is applied, and
    /// optionally a random number.
    fn oracle(leaks: &[Name], random: bool) -> impl FnMut(&Set) -> Result<Outcome, ()> {
        let leaks: Vec<Name> = leaks.to_vec();
        let image = move |s: &Set| -> Vec<Name> {
            leaks.iter().copied().filter(|l| s.contains(l)).collect()
        };
        let a = image(&Set::new());
        let b = image(&all());
        let mut built: Vec<Set> = Vec::new();
        move |s: &Set| {
            assert!(
                !built.contains(s) || s.is_empty(),
                "{s:?} built twice (only A is rebuilt)"
            );
            assert_ne!(s, &all(), "B is never rebuilt");
            built.push(s.clone());
            let got = image(s);
            Ok(if random {
                Outcome::Other
            } else if got == a {
                Outcome::LikeA
            } else if got == b {
                Outcome::LikeB
            } else {
                Outcome::Other
            })
        }
    }

    #[test]
    fn names_the_one_guilty_variation_of_twelve() {
        for guilty in Name::ALL {
            let f = search(&all(), oracle(&[guilty], false)).unwrap();
            let Finding::Follows { set, extra_builds } = &f else {
                panic!("{f:?}")
            };
            assert_eq!(set, &[guilty].into_iter().collect::<Set>());
            // The rebuild of A, about log2(12) halvings and the confirmation.
            assert!(*extra_builds <= 6, "{guilty}: {extra_builds} builds");
            assert!(
                f.line().contains(&format!("follows `{guilty}` (")),
                "{}",
                f.line()
            );
        }
    }

    #[test]
    fn finds_every_guilty_variation_when_several_leak() {
        let leaks = [Name::Time, Name::Umask, Name::FileOrdering];
        let f = search(&all(), oracle(&leaks, false)).unwrap();
        assert_eq!(
            f,
            Finding::Follows {
                set: leaks.into_iter().collect(),
                extra_builds: f.extra_builds()
            }
        );
        assert!(
            f.line()
                .contains("`time` + `fileordering` + `umask` together"),
            "{}",
            f.line()
        );
    }

    #[test]
    fn a_difference_without_any_variation_is_named_as_such() {
        let f = search(&all(), oracle(&[Name::Time], true)).unwrap();
        assert_eq!(f, Finding::NoVariation { extra_builds: 1 });
        assert!(f.line().contains("randomness or a clock inside a tool"));
    }

    #[test]
    fn a_smaller_vary_set_is_searched_as_given() {
        let set: Set = [Name::Timezone, Name::Locales].into_iter().collect();
        let f = search(&set, oracle(&[Name::Locales], false)).unwrap();
        assert_eq!(
            f,
            Finding::Follows {
                set: [Name::Locales].into_iter().collect(),
                extra_builds: 3
            }
        );
        assert_eq!(
            f.line(),
            "the difference follows `locales` (3 extra builds)"
        );
    }

    #[test]
    fn build_errors_stop_the_search() {
        let r = search(&all(), |_s: &Set| Err::<Outcome, &str>("build B failed"));
        assert_eq!(r, Err("build B failed"));
    }
}
