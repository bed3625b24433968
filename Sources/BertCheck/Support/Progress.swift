/// How far along long work is: `completed` of `total` units of one activity. The library reports
/// it and never prints it; the CLI draws it on a terminal, another program may ignore it.
public struct ProgressStep: Sendable, Equatable {
    /// What is being done, in words: "forward pass over 2000 rows × 128 tokens, 6 layers of 3 steps", "comparing tensors".
    public var activity: String
    /// What is counted, plural: "steps", "tensors", "lines", "passes".
    public var unit: String
    public var completed: Int
    public var total: Int

    public init(activity: String, unit: String, completed: Int, total: Int) {
        self.activity = activity
        self.unit = unit
        self.completed = completed
        self.total = total
    }
}

/// Receives progress from library entry points that take a `progress:` argument. Steps arrive
/// on the working thread, one at a time, in order: each activity starts with `completed == 0`
/// and ends with `completed == total`. `update` runs inside the timed work, so it must return
/// quickly (the CLI's observer reads a clock and usually returns).
public protocol ProgressObserver: AnyObject {
    func update(_ step: ProgressStep)
}

extension ProgressObserver {
    /// Reports `completed` of `total` in one call: the form the library's loops use.
    func update(_ activity: String, unit: String, _ completed: Int, of total: Int) {
        update(ProgressStep(activity: activity, unit: unit, completed: completed, total: total))
    }
}
