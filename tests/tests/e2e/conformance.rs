//! Every provider plugin of the workspace passes the conformance suite; a plugin that
//! reaches for an undeclared host or crashes on a bad response does not.

use grantbox_e2e::artifacts;
use grantbox_e2e::conformance::{Options, Outcome, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workspace_plugin_is_conformant() -> anyhow::Result<()> {
    for plugin in [
        artifacts::GENERIC,
        artifacts::GOOGLE,
        artifacts::AZURE,
        artifacts::GITHUB,
        artifacts::SLACK,
        artifacts::ZOOM,
        artifacts::LINKEDIN,
        artifacts::DROPBOX,
        artifacts::COGNITO,
        artifacts::SALESFORCE,
    ] {
        let report = run(plugin, &Options::default()).await?;
        assert!(report.failures().is_empty(), "{report}");
        let exercised = report
            .checks
            .iter()
            .filter(|c| c.name.contains("tolerant parsing") && c.outcome == Outcome::Pass)
            .count();
        assert!(exercised > 0, "no grant was exercised:\n{report}");
    }
    Ok(())
}

#[tokio::test]
async fn a_hostile_plugin_fails_it() -> anyhow::Result<()> {
    // The hostile test plugin requests an undeclared URL in this mode.
    let options = Options {
        settings: vec![
            (
                "mode".into(),
                grantbox_host::SettingValue::Text("undeclared-host".into()),
            ),
            (
                "target_url".into(),
                grantbox_host::SettingValue::Text("http://127.0.0.1:9/elsewhere".into()),
            ),
        ],
    };
    let report = run(artifacts::HOSTILE, &options).await?;
    assert!(!report.failures().is_empty(), "{report}");
    Ok(())
}
