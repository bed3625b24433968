import Testing

/// What every command line gets: usage errors exit 2 with nothing on stdout.
@Suite struct CLIContractTests {
    @Test func unknownOptionIsUsageErrorExit2() throws {
        let result = try CLI.run(["--no-such-option"])
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
    }
}
