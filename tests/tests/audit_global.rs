//! The process-wide auditor: `install`, `global`, `begin`/`finish` (what `#[audit]` calls) and
//! `shutdown`. One test in its own binary: the global is process-wide state.

mod audit_support;

use audit_support::*;
use observa::audit::{self, AuditConfig, AuditOutcome, NewRecord, Policy, Receipt};

#[test]
fn install_begin_finish_shutdown() {
    let dir = TempDir::new("global");
    let first = dir.url("first.db");
    let second = dir.url("second.db");
    audit::install(AuditConfig::new(&first)).unwrap();
    let attempt = audit::begin(
        NewRecord::new("user.suspend", "admin-1").target("user-2"),
        Policy::FailClosed,
    )
    .unwrap();
    assert_eq!(attempt.attempted().unwrap().seq, 2);
    let Receipt::Stored(done) = attempt.finish(AuditOutcome::Success).unwrap() else {
        panic!("not stored")
    };
    assert_eq!(done.seq, 3);

    // Installing another store closes the first one (once unused) with `audit.stopped`.
    audit::install(AuditConfig::new(&second)).unwrap();
    let report = audit::verify(&first).unwrap();
    assert_eq!(report.records, 4);
    assert!(report.clean_shutdown);

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let receipt = rt.block_on(async {
        let a = audit::begin_async(NewRecord::new("job.run", "worker"), Policy::FailClosed)
            .await
            .unwrap();
        a.finish_async(AuditOutcome::failure("JobError", "timeout"))
            .await
            .unwrap()
    });
    assert_eq!(receipt.stored().unwrap().seq, 3);
    assert!(audit::global().is_ok());
    audit::shutdown().unwrap();
    let report = audit::verify(&second).unwrap();
    assert_eq!(report.records, 4);
    assert!(report.clean_shutdown);
}
