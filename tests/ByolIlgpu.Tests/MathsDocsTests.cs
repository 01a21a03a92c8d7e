using System.Text.RegularExpressions;
using ByolIlgpu.Engine;
using ByolIlgpu.KernelGen;
using Xunit;

namespace ByolIlgpu.Tests;

/// <summary>
/// Keeps docs/maths honest: every code link [`Type.Member`](../../path/File.cs) names a file that exists
/// and a symbol declared in it; every relative link resolves; every kernel of <see cref="KernelCatalog"/>
/// is linked from some page; every page is linked from index.md. Each failure lists all the bad
/// (page, link) pairs at once.
/// </summary>
public partial class MathsDocsTests
{
    /// <summary>A Markdown link [text](target); fenced code blocks are removed before matching.</summary>
    [GeneratedRegex(@"\[(?<text>[^\]\n]*)\]\((?<target>[^)\s]+)\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"^`(?<symbol>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)`$")]
    private static partial Regex SymbolText();

    [GeneratedRegex(@"^(?<fence>```|~~~).*?^\k<fence>[^\n]*$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex FencedBlock();

    /// <summary>Words before a name that make `Name(` a call or an expression, not a declaration.</summary>
    static readonly HashSet<string> NotADeclaration = ["return", "new", "await", "throw", "case", "in", "is", "as", "else", "nameof", "typeof", "=>", "="];

    static string Root { get; } = KernelGenerator.FindRepositoryRoot(AppContext.BaseDirectory)
        ?? throw new InvalidOperationException("ByolIlgpu.sln not found above " + AppContext.BaseDirectory);

    static string MathsDir => Path.Combine(Root, "docs", "maths");

    /// <summary>The pages, each with its links (outside fenced code), in file-name order.</summary>
    static List<(string Page, List<(string Text, string Target)> Links)> Pages()
    {
        Assert.True(Directory.Exists(MathsDir), $"docs/maths not found under {Root}");
        var pages = Directory.GetFiles(MathsDir, "*.md").Order(StringComparer.Ordinal)
            .Select(path =>
            {
                string text = FencedBlock().Replace(File.ReadAllText(path).ReplaceLineEndings("\n"), "");
                var links = Link().Matches(text).Select(m => (m.Groups["text"].Value, m.Groups["target"].Value)).ToList();
                return (Path.GetFileName(path), links);
            })
            .ToList();
        Assert.True(pages.Count > 0, "docs/maths holds no pages");
        return pages;
    }

    static bool IsExternal(string target) => target.StartsWith('#') || Regex.IsMatch(target, @"^[a-z][a-z0-9+.-]*:", RegexOptions.IgnoreCase);

    /// <summary>The file a relative link points to (its #anchor dropped), as a full path.</summary>
    static string Resolve(string target)
    {
        int hash = target.IndexOf('#');
        string path = Uri.UnescapeDataString(hash >= 0 ? target[..hash] : target);
        return Path.GetFullPath(Path.Combine(MathsDir, path));
    }

    /// <summary>The code links of all pages: links whose target is a .cs file, with the symbol of their `backticked` text (null if not a symbol).</summary>
    static List<(string Page, string Link, string? Symbol, string File)> CodeLinks() =>
        Pages().SelectMany(p => p.Links
                .Where(l => !IsExternal(l.Target) && Resolve(l.Target).EndsWith(".cs", StringComparison.Ordinal))
                .Select(l => (p.Page, $"[{l.Text}]({l.Target})", SymbolText().Match(l.Text) is { Success: true } m ? m.Groups["symbol"].Value : null, Resolve(l.Target))))
            .ToList();

    static bool DeclaresType(string source, string type) =>
        Regex.IsMatch(source, $@"\b(?:class|struct|record|enum|interface)\s+(?:struct\s+|class\s+)?{Regex.Escape(type)}\b");

    /// <summary>
    /// Whether <paramref name="source"/> declares <paramref name="member"/>: `Name(` or `Name&lt;` (a method,
    /// constructor or generic), `Name {` or `Name =&gt;` (a property), or a type of that name, where the word
    /// before the name is a type or modifier, possibly a tuple type's closing parenthesis (so a call such as
    /// `=&gt; Name(` or `return Name(` does not count).
    /// </summary>
    static bool DeclaresMember(string source, string member)
    {
        if (DeclaresType(source, member))
            return true;
        foreach (Match m in Regex.Matches(source, $@"(?<before>\S+)[ \t]+{Regex.Escape(member)}\s*(?:[(<{{]|=>)"))
        {
            string before = m.Groups["before"].Value;
            if (!NotADeclaration.Contains(before) && Regex.IsMatch(before, @"[\w>\]?)]$") && !before.EndsWith("=>", StringComparison.Ordinal))
                return true;
        }
        return false;
    }

    [Fact]
    public void EveryCodeLinkNamesAnExistingFileAndASymbolDeclaredInIt()
    {
        var links = CodeLinks();
        Assert.True(links.Count > 0, "docs/maths has no code links [`Type.Member`](../../path/File.cs): nothing to check");
        var sources = new Dictionary<string, string>();
        var bad = new List<string>();
        foreach (var (page, link, symbol, file) in links)
        {
            string? problem = null;
            if (symbol is null)
                problem = "the link text is not a `Type` or `Type.Member` in backticks";
            else if (!File.Exists(file))
                problem = $"no file {Path.GetRelativePath(Root, file)}";
            else
            {
                if (!sources.TryGetValue(file, out var source))
                    sources[file] = source = File.ReadAllText(file);
                var parts = symbol.Split('.');
                string type = parts.Length > 1 ? parts[^2] : parts[0];
                if (!DeclaresType(source, type))
                    problem = $"{Path.GetRelativePath(Root, file)} declares no type {type}";
                else if (parts.Length > 1 && !DeclaresMember(source, parts[^1]))
                    problem = $"{Path.GetRelativePath(Root, file)} declares no member {parts[^1]}";
            }
            if (problem is not null)
                bad.Add($"  {page}: {link} — {problem}");
        }
        Assert.True(bad.Count == 0, $"{bad.Count} of {links.Count} code links in docs/maths are broken:\n{string.Join("\n", bad)}");
    }

    [Fact]
    public void EveryRelativeLinkResolvesToAFile()
    {
        var bad = Pages()
            .SelectMany(p => p.Links.Where(l => !IsExternal(l.Target))
                .Where(l => !File.Exists(Resolve(l.Target)) && !Directory.Exists(Resolve(l.Target)))
                .Select(l => $"  {p.Page}: [{l.Text}]({l.Target})"))
            .ToList();
        Assert.True(bad.Count == 0, $"{bad.Count} links in docs/maths point to nothing:\n{string.Join("\n", bad)}");
    }

    [Fact]
    public void EveryKernelInTheCatalogIsLinkedFromSomePage()
    {
        var linked = CodeLinks().Where(l => l.Symbol is not null).Select(l => l.Symbol!).ToHashSet(StringComparer.Ordinal);
        var kernels = KernelCatalog.All.Select(KernelCatalog.NameOf).ToList();
        Assert.True(kernels.Count > 50, $"the catalog lists only {kernels.Count} kernels: it is not finding them");
        var missing = kernels.Where(k => !linked.Contains(k)).ToList();
        Assert.True(missing.Count == 0,
            $"{missing.Count} of {kernels.Count} kernels are linked from no page of docs/maths (link each as [`Type.Method`](../../kernels/File.cs)):\n  " +
            string.Join("\n  ", missing));
    }

    [Fact]
    public void EveryPageIsLinkedFromTheIndex()
    {
        var pages = Pages();
        var index = pages.SingleOrDefault(p => p.Page == "index.md");
        Assert.True(index.Links is not null, "docs/maths/index.md is missing");
        var reached = index.Links.Where(l => !IsExternal(l.Target)).Select(l => Resolve(l.Target)).ToHashSet(StringComparer.Ordinal);
        var unlinked = pages.Where(p => p.Page != "index.md" && !reached.Contains(Path.Combine(MathsDir, p.Page))).Select(p => p.Page).ToList();
        Assert.True(unlinked.Count == 0, $"{unlinked.Count} pages of docs/maths are not linked from index.md:\n  {string.Join("\n  ", unlinked)}");
    }

    /// <summary>The declaration rule itself: a test of the checker, so a checker that accepts everything fails here.</summary>
    [Fact]
    public void TheDeclarationRuleTellsDeclarationsFromCalls()
    {
        const string source = """
            public static partial class Conv2dKernels
            {
                public static void Conv2dForwardKernel2(ArrayView<float> x) => GatherGemmBlock(x);
                static int SourceBase(Conv2dGemm g, int pos) { return Helper(g); }
                public int Count { get; }
                public static (double[] y, int[] argmax) MaxPool2dForward(double[] x) => (x, Scan(x));
                public readonly record struct ParityClass(int Ph);
            }
            """;
        Assert.True(DeclaresType(source, "Conv2dKernels"));
        Assert.True(DeclaresType(source, "ParityClass"));
        Assert.False(DeclaresType(source, "Conv2dGemm"));
        Assert.True(DeclaresMember(source, "Conv2dForwardKernel2"));
        Assert.True(DeclaresMember(source, "SourceBase"));
        Assert.True(DeclaresMember(source, "Count"));
        Assert.False(DeclaresMember(source, "GatherGemmBlock"));   // called, not declared
        Assert.False(DeclaresMember(source, "Helper"));
        Assert.True(DeclaresMember(source, "MaxPool2dForward"));   // a tuple return type
        Assert.False(DeclaresMember(source, "Scan"));
        Assert.False(DeclaresMember(source, "Conv2dForwardKernel"));
    }
}
