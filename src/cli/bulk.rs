//! Redrive and purge as operators run them: call again and again with a per-call limit until
//! nothing matching is left, with a progress bar whose total is what the first call found.

use super::progress::progress;

/// What one bounded call did: (changed, remaining).
pub type Step = (u64, u64);

/// Runs `call` until `remaining` is 0 (or a call changes nothing, which means the rest cannot
/// be changed now, or as many as the first call found in all have been changed: what matches
/// later, such as redriven deliveries that died again, is left for another run instead of
/// being redriven over and over); returns how many were changed in all.
pub async fn until_done<F, Fut>(verb: &str, mut call: F) -> anyhow::Result<u64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Step>>,
{
    let (mut done, mut remaining) = call().await?;
    let total = done + remaining;
    let bar = progress(total, verb);
    bar.inc(done);
    while remaining > 0 {
        if done >= total {
            bar.finish_and_clear();
            eprintln!(
                "{remaining} more matching since the start (e.g. redriven again and dead again); \
                 run the command again to include them"
            );
            return Ok(done);
        }
        let (changed, left) = call().await?;
        if changed == 0 {
            bar.abandon();
            eprintln!("{remaining} matching could not be {verb} now; run the command again later");
            return Ok(done);
        }
        bar.inc(changed);
        done += changed;
        remaining = left;
    }
    bar.finish_and_clear();
    Ok(done)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[tokio::test]
    async fn calls_until_nothing_remains() {
        let answers = RefCell::new(vec![(3, 0), (3, 3), (4, 6)]);
        let calls = RefCell::new(0);
        let done = until_done("redriven", || async {
            *calls.borrow_mut() += 1;
            Ok(answers.borrow_mut().pop().unwrap())
        })
        .await
        .unwrap();
        assert_eq!((done, *calls.borrow()), (10, 3));
    }

    #[tokio::test]
    async fn stops_after_as_many_as_the_first_call_found() {
        // Every call finds 2 more: what it changed matched again (redriven, dead again).
        let calls = RefCell::new(0);
        let done = until_done("redriven", || async {
            *calls.borrow_mut() += 1;
            Ok((2, 2))
        })
        .await
        .unwrap();
        assert_eq!((done, *calls.borrow()), (4, 2));
    }

    #[tokio::test]
    async fn stops_when_a_call_makes_no_progress() {
        let answers = RefCell::new(vec![(0, 2), (1, 2)]);
        let done = until_done("redriven", || async {
            Ok(answers.borrow_mut().pop().unwrap())
        })
        .await
        .unwrap();
        assert_eq!(done, 1);
    }
}
