import Foundation
import Testing

extension Tag {
    /// A test that takes more than about two seconds of a debug build (the 440 MB
    /// bert-base-shaped model, the tokenizer corpus, the real model through the CLI, ...).
    @Tag static var slow: Tag
}

extension Trait where Self == ConditionTrait {
    /// Goes with `.tags(.slow)`: `BERTCHECK_SKIP_SLOW=1 swift test` skips the test, for a fast
    /// local loop (Swift 6.3's `swift test` selects tests by name only, not by tag). CI and
    /// Scripts/test.sh leave the variable unset and run everything.
    static var skippedInFastLoop: Self {
        .disabled(if: ProcessInfo.processInfo.environment["BERTCHECK_SKIP_SLOW"] == "1",
                  "slow test: BERTCHECK_SKIP_SLOW=1 skips it")
    }
}
