import Testing
@testable import BertCheck

@Suite struct StrictJSONTests {
    @Test func parsesValuesAndKeepsKeyOrder() throws {
        let value = try StrictJSON.parse(Array(#" {"b": [1, -2.5e3, true, null], "a": "x\u00e9\ud83d\ude00\n"} "#.utf8))
        #expect(value.members?.map(\.key) == ["b", "a"])
        #expect(value["a"]?.string == "xé😀\n")
        #expect(value["b"]?.elements?.first?.integer == 1)
        #expect(value["b"]?.elements?[1].integer == nil)
        #expect(value["b"]?.elements?[1].double == -2500)
    }

    @Test func rejectsWhatFoundationAccepts() {
        for text in [#"{"a":1,"a":2}"#, "[1,]", "{\"a\":1}garbage", "\"\\ud800\"", "[01]", "[1.]", "\"\t\"", "nul"] {
            #expect(throws: JSONProblem.self, "\(text)") { try StrictJSON.parse(Array(text.utf8)) }
        }
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONProblem.tooDeep(offset: StrictJSON.maximumDepth)) { try StrictJSON.parse(Array(deep.utf8)) }
    }
}
