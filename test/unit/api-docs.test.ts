// The API reference is complete: every export of lib/index.ts, and every public member of an exported
// class or interface, has a TSDoc summary, and every exported function and public class method or
// constructor says what it throws (`@throws {@link SomeError} when ...`, or `@throws Nothing.`).
// Walked with the TypeScript compiler API over the sources (what `npm run docs` renders).
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import * as ts from 'typescript';

const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');
const INDEX = path.join(PACKAGE_ROOT, 'lib', 'index.ts');

export interface ApiDocsReport {
  /** Every checked name (export or `Export.member`). */
  checked: string[];
  /** Where each missing entry's declaration is (file:line), in the order of `missing`. */
  where: string[];
  /** What is missing, one line each: `name: no summary` or `name: no @throws`. */
  missing: string[];
}

function hasModifier(node: ts.Node, kind: ts.SyntaxKind): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === kind);
}

/** Members a user of the class or interface sees: not private, protected or #private. */
function publicMembers(declaration: ts.ClassLikeDeclaration | ts.InterfaceDeclaration): ts.ClassElement[] | ts.TypeElement[] {
  const visible = (member: ts.ClassElement | ts.TypeElement): boolean =>
    !(member.name !== undefined && ts.isPrivateIdentifier(member.name)) &&
    !hasModifier(member, ts.SyntaxKind.PrivateKeyword) &&
    !hasModifier(member, ts.SyntaxKind.ProtectedKeyword) &&
    !ts.isClassStaticBlockDeclaration(member as ts.Node) &&
    !ts.isIndexSignatureDeclaration(member as ts.Node) &&
    !ts.isSemicolonClassElement(member as ts.Node);
  return ts.isInterfaceDeclaration(declaration) ? declaration.members.filter(visible) : declaration.members.filter(visible);
}

function memberName(member: ts.ClassElement | ts.TypeElement): string {
  if (ts.isConstructorDeclaration(member)) return 'constructor';
  if (ts.isCallSignatureDeclaration(member)) return '(call)';
  if (ts.isConstructSignatureDeclaration(member)) return '(new)';
  return member.name === undefined ? '(anonymous)' : member.name.getText();
}

/** The doc comment written on this declaration itself, or inherited by TypeScript's rules. */
function summaryOf(symbol: ts.Symbol | undefined, declaration: ts.Node, checker: ts.TypeChecker): string {
  const fromSymbol = symbol === undefined ? '' : ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
  if (fromSymbol.length > 0) return fromSymbol;
  if (ts.isConstructorDeclaration(declaration)) {
    const signature = checker.getSignatureFromDeclaration(declaration);
    return signature === undefined ? '' : ts.displayPartsToString(signature.getDocumentationComment(checker)).trim();
  }
  return '';
}

function throwsTagOf(symbol: ts.Symbol | undefined, declaration: ts.Node, checker: ts.TypeChecker): boolean {
  const tags = ts.getJSDocTags(declaration).some((tag) => tag.tagName.text === 'throws');
  return tags || (symbol?.getJsDocTags(checker).some((tag) => tag.name === 'throws') ?? false);
}

const isCallable = (node: ts.Node): boolean => ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node) || ts.isFunctionDeclaration(node);

/** Walks the exports of lib/index.ts; what is documented and what is not. */
export function apiDocsReport(index = INDEX): ApiDocsReport {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(PACKAGE_ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  const program = ts.createProgram([index], config?.options ?? {});
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(index);
  assert.ok(source, `cannot read ${index}`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  assert.ok(moduleSymbol, `${index} is not a module`);
  const report: ApiDocsReport = { checked: [], missing: [], where: [] };
  const check = (name: string, symbol: ts.Symbol | undefined, declaration: ts.Node): void => {
    report.checked.push(name);
    const file = declaration.getSourceFile();
    const at = `${path.relative(PACKAGE_ROOT, file.fileName)}:${file.getLineAndCharacterOfPosition(declaration.getStart()).line + 1}`;
    const missing = (what: string): void => {
      report.missing.push(`${name}: ${what}`);
      report.where.push(at);
    };
    if (summaryOf(symbol, declaration, checker).length === 0) missing('no summary');
    if (isCallable(declaration) && !throwsTagOf(symbol, declaration, checker)) missing('no @throws');
  };
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const declarations = (symbol.declarations ?? []).filter((d) => !d.getSourceFile().fileName.includes('node_modules'));
    const [first] = declarations;
    if (first === undefined) continue;
    // Overloads and merged declarations are one entry; the first declaration carries the docs.
    check(exported.name, symbol, first);
    for (const declaration of declarations) {
      if (!ts.isClassDeclaration(declaration) && !ts.isInterfaceDeclaration(declaration)) continue;
      const seen = new Set<string>();
      for (const member of publicMembers(declaration)) {
        const name = `${exported.name}.${memberName(member)}`;
        if (seen.has(name)) continue; // overloads, get/set pairs
        seen.add(name);
        const memberSymbol = member.name !== undefined ? checker.getSymbolAtLocation(member.name) : undefined;
        check(name, memberSymbol, member);
      }
    }
  }
  return report;
}

describe('API reference (TSDoc on every export of lib/index.ts)', () => {
  it('every export and public member has a summary; every function, method and constructor a @throws', function () {
    this.timeout(60_000);
    const report = apiDocsReport();
    console.log(`      ${report.checked.length - new Set(report.missing.map((m) => m.split(':')[0])).size} of ${report.checked.length} exports and members documented`);
    assert.ok(report.checked.length > 100, `only ${report.checked.length} exports and members found`);
    assert.deepEqual(report.missing.map((m, i) => `${m} (${report.where[i]})`), [], 'exports and members without their TSDoc');
  });
});
