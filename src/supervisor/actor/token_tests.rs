//! The run's AUTH token: made per run, handed to the children.
use super::*;

fn config(pairs: &[(&str, &str)]) -> Config {
    let env = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load_with_env(None, Some(env)).unwrap()
}

#[test]
fn a_run_without_a_token_gets_a_fresh_one_for_both_children() {
    let env = run_token_env(&config(&[]));
    assert_eq!(env.len(), 2);
    assert_eq!(env[0].0, "TRADING__ORDERMANAGER__AUTH_TOKEN");
    assert_eq!(env[1].0, "TRADING__STRATEGY__AUTH_TOKEN");
    assert_eq!(env[0].1, env[1].1);
    assert!(env[0].1.len() == 32 && env[0].1.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(run_token_env(&config(&[]))[0].1, env[0].1, "one per run");
}

#[test]
fn configured_tokens_are_kept() {
    let om = [("TRADING__ORDERMANAGER__AUTH_TOKEN", "mine")];
    let env = run_token_env(&config(&om));
    assert_eq!(
        env,
        [(
            "TRADING__STRATEGY__AUTH_TOKEN".to_string(),
            "mine".to_string()
        )]
    );
    let both = [om[0], ("TRADING__STRATEGY__AUTH_TOKEN", "theirs")];
    assert!(run_token_env(&config(&both)).is_empty());
}
