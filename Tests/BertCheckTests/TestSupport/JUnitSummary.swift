import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A strict reading of a JUnit file: well-formed XML (balanced elements, one root, valid
/// characters and escapes), with the testcases and failures it holds.
struct JUnitSummary {
    var testcases: [String] = []
    var failures: [String] = []
    var failureText = ""
    var suiteAttributes: [String: String] = [:]

    struct Malformed: Error, CustomStringConvertible { var description: String }

    static func parse(_ xml: String) throws -> JUnitSummary {
        #if canImport(FoundationXML) || canImport(Darwin)
        let delegate = Collector()
        let parser = XMLParser(data: Data(xml.utf8))
        parser.delegate = delegate
        guard parser.parse() else { throw Malformed(description: "XMLParser: \(parser.parserError.map { "\($0)" } ?? "error")") }
        guard delegate.balanced, delegate.stack.isEmpty, delegate.roots == 1 else { throw Malformed(description: "unbalanced elements") }
        // libxml2 on Linux recovers from some errors; also check that every '&' starts an entity.
        let entity = try NSRegularExpression(pattern: "&(?!(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)")
        guard entity.firstMatch(in: xml, range: NSRange(xml.startIndex..., in: xml)) == nil else { throw Malformed(description: "bare &") }
        return delegate.summary
        #else
        throw Malformed(description: "no XML parser")
        #endif
    }

    #if canImport(FoundationXML) || canImport(Darwin)
    final class Collector: NSObject, XMLParserDelegate {
        var summary = JUnitSummary()
        var stack: [String] = []
        var balanced = true
        var roots = 0
        var currentTestcase = ""
        var inFailure = false

        func parser(_ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            if stack.isEmpty { roots += 1 }
            stack.append(element)
            switch element {
            case "testsuite": summary.suiteAttributes = attributes
            case "testcase":
                currentTestcase = attributes["name"] ?? ""
                summary.testcases.append(currentTestcase)
            case "failure":
                summary.failures.append(currentTestcase)
                inFailure = true
            default: break
            }
        }

        func parser(_ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?) {
            if stack.popLast() != element { balanced = false }
            if element == "failure" { inFailure = false }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if inFailure { summary.failureText += string }
        }
    }
    #endif
}
