import ArgumentParser
import BertCheck

/// `--max-memory SIZE` for the commands that run the forward pass (issue 18 #1): a budget used
/// instead of the system's figure (MemAvailable, `ulimit -v`) when smaller, so a request is
/// refused with exit 2 and the figure rather than pushing a shared machine into swap.
struct MemoryOption: ParsableArguments {
    @Option(name: .customLong("max-memory"), parsing: .unconditional,
            help: "Memory this run may use, e.g. 2G or 512M (K, M, G, T: powers of 1024); a pass estimated to need more is refused (exit 2). Default: the memory available.")
    var maxMemory: String?

    /// Checks the value and sets the budget; call first in `run()`.
    func apply() throws {
        guard let maxMemory else { return }
        guard let bytes = MemoryBudget.parseSize(maxMemory) else {
            throw UsageError("--max-memory \(maxMemory): must be a size above 0, such as 2G, 512M or 1073741824")
        }
        MemoryBudget.userLimit = bytes
    }
}
