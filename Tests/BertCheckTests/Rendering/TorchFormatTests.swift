import Foundation
import Testing
import BertCheckRendering

@Suite struct TorchFormatTests {
    /// Strings `str(torch.tensor)` printed, recorded by Scripts/record_forward_goldens.py.
    @Test func printsTensorsAsTorchDoes() throws {
        let url = TestPaths.goldens.appendingPathComponent("forward/torch-print.json")
        let cases = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]])
        #expect(cases.count >= 8)
        for item in cases {
            let name = item["name"] as? String ?? "?"
            let shape = (item["shape"] as? [NSNumber] ?? []).map(\.intValue)
            let values = (item["values"] as? [NSNumber] ?? []).map(\.floatValue)
            let expected = item["torch"] as? String ?? ""
            #expect(TorchFormat.tensor(values, shape: shape) == expected, "\(name)")
        }
        #expect(TorchFormat.size([1, 6, 768]) == "torch.Size([1, 6, 768])")
    }
}
