//! One writer per data dir: a second writer is refused with the holder's name, read-only
//! opens work meanwhile, and the lock goes with the last handle.

use twinlog_log::{Log, LogError, TopicConfig};

use crate::support::{append_range, open_small, read_all};

#[test]
fn a_second_writer_is_refused_naming_the_holder_and_readers_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let writer = open_small(dir.path());
    writer.create_topic("t", TopicConfig::default()).unwrap();
    append_range(&writer, "t", 0, 0, 50, 10);

    let err = Log::open(dir.path(), Default::default()).unwrap_err();
    let LogError::Locked { path, holder } = &err else {
        panic!("expected Locked, got {err:?}")
    };
    assert_eq!(path, dir.path());
    assert!(
        holder.starts_with(&format!("pid {} on ", std::process::id())),
        "{holder}"
    );
    assert!(err.to_string().contains(holder.as_str()), "{err}");

    let reader = Log::open_read_only(dir.path()).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(read_all(&reader, "t", 0, 0).len(), 50);
    let err =
        crate::support::block_on(reader.append("t", 0, vec![crate::support::rec(0)])).unwrap_err();
    assert!(matches!(err, LogError::ReadOnly { .. }), "{err:?}");
    assert!(matches!(
        reader.create_topic("u", TopicConfig::default()),
        Err(LogError::ReadOnly { .. })
    ));

    // The reader picks up what the writer appends after it opened, on refresh.
    append_range(&writer, "t", 0, 50, 80, 10);
    writer
        .create_topic("later", TopicConfig::default())
        .unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.end_offset("t", 0).unwrap(), 80);
    assert_eq!(read_all(&reader, "t", 0, 0).len(), 80);
    assert!(reader.topics().contains(&"later".to_owned()));

    // A clone keeps the lock; dropping the last handle releases it.
    let clone = writer.clone();
    drop(writer);
    assert!(matches!(
        Log::open(dir.path(), Default::default()),
        Err(LogError::Locked { .. })
    ));
    drop(clone);
    let again = open_small(dir.path());
    assert_eq!(again.end_offset("t", 0).unwrap(), 80);
}
