//! The `<Cluster>` element of a Tomcat `server.xml`, read as Tomcat's Digester would see it: every
//! element with its `className` and attributes, nothing interpreted yet.
//!
//! `SimpleTcpCluster` may sit in the `<Engine>` or in a `<Host>`; its children are `<Manager>`,
//! `<Channel>` (with `<Membership>`, `<Receiver>`, `<Sender>`/`<Transport>`, `<Interceptor>`s,
//! each interceptor possibly with `<Member>`/`<LocalMember>` children), `<Valve>`s,
//! `<Deployer>` and `<ClusterListener>`s.

use std::collections::BTreeMap;

/// One element: its name, attributes (`className` among them) and children, in document order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    pub children: Vec<Element>,
    /// 1-based line of the element in the file, for error messages.
    pub line: u32,
}

impl Element {
    pub fn class_name(&self) -> Option<&str> {
        self.attr("className")
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }

    /// The first child with this element name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child with this element name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Where the `<Cluster>` was found, which decides the manager names on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterPlacement {
    /// Inside `<Engine>`: context names are sent as `host#/app`.
    Engine { engine: String },
    /// Inside `<Host name=...>`: context names are sent as `/app`.
    Host { engine: String, host: String },
}

/// The cluster configuration found in a server.xml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerXmlCluster {
    pub cluster: Element,
    pub placement: ClusterPlacement,
    /// The Engine's jvmRoute, when set.
    pub jvm_route: Option<String>,
}

/// Why a server.xml gave no usable `<Cluster>`.
#[derive(Debug, thiserror::Error)]
pub enum ServerXmlError {
    #[error("server.xml is not well-formed XML: {0}")]
    Xml(#[from] roxmltree::Error),
    #[error("server.xml has no <Cluster> element inside <Engine> or <Host>")]
    NoCluster,
    #[error("server.xml has {count} <Cluster> elements (lines {lines}); tribesd runs one node, pick one with --cluster-host")]
    SeveralClusters { count: usize, lines: String },
}

/// Finds the `<Cluster>` of `text`. With `host`, only a Cluster inside that `<Host>` (or the
/// Engine's) is taken.
pub fn parse(text: &str, host: Option<&str>) -> Result<ServerXmlCluster, ServerXmlError> {
    let doc = roxmltree::Document::parse(text)?;
    let mut found = Vec::new();
    for engine in doc.descendants().filter(|n| n.has_tag_name("Engine")) {
        let engine_name = engine.attribute("name").unwrap_or("Catalina").to_string();
        let jvm_route = engine.attribute("jvmRoute").map(str::to_string);
        for c in engine.children().filter(|n| n.has_tag_name("Cluster")) {
            found.push((c, ClusterPlacement::Engine { engine: engine_name.clone() }, jvm_route.clone()));
        }
        for h in engine.children().filter(|n| n.has_tag_name("Host")) {
            let host_name = h.attribute("name").unwrap_or("localhost").to_string();
            if host.is_some_and(|want| want != host_name) {
                continue;
            }
            for c in h.children().filter(|n| n.has_tag_name("Cluster")) {
                let placement = ClusterPlacement::Host { engine: engine_name.clone(), host: host_name.clone() };
                found.push((c, placement, jvm_route.clone()));
            }
        }
    }
    match found.len() {
        0 => Err(ServerXmlError::NoCluster),
        1 => {
            let (node, placement, jvm_route) = found.pop().expect("one");
            Ok(ServerXmlCluster { cluster: element(&doc, node), placement, jvm_route })
        }
        count => Err(ServerXmlError::SeveralClusters {
            count,
            lines: found
                .iter()
                .map(|(n, _, _)| doc.text_pos_at(n.range().start).row.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn element(doc: &roxmltree::Document, node: roxmltree::Node) -> Element {
    Element {
        name: node.tag_name().name().to_string(),
        attributes: node.attributes().map(|a| (a.name().to_string(), a.value().to_string())).collect(),
        children: node.children().filter(|c| c.is_element()).map(|c| element(doc, c)).collect(),
        line: doc.text_pos_at(node.range().start).row,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOWTO: &str = r#"<?xml version="1.0"?>
<Server port="8005" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="node1">
      <Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster" channelSendOptions="8">
        <Manager className="org.apache.catalina.ha.session.DeltaManager" expireSessionsOnShutdown="false"/>
        <Channel className="org.apache.catalina.tribes.group.GroupChannel">
          <Membership className="org.apache.catalina.tribes.membership.McastService"
                      address="228.0.0.4" port="45564" frequency="500" dropTime="3000"/>
          <Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver"
                    address="auto" port="4000" autoBind="100"/>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.TcpFailureDetector"/>
          <Interceptor className="org.apache.catalina.tribes.group.interceptors.StaticMembershipInterceptor">
            <Member className="org.apache.catalina.tribes.membership.StaticMember" port="4001" host="10.0.0.2"
                    uniqueId="{0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15}"/>
          </Interceptor>
        </Channel>
      </Cluster>
      <Host name="localhost" appBase="webapps"/>
    </Engine>
  </Service>
</Server>"#;

    #[test]
    fn the_howto_cluster_is_found_in_the_engine_with_every_element() {
        let c = parse(HOWTO, None).unwrap();
        assert_eq!(c.placement, ClusterPlacement::Engine { engine: "Catalina".into() });
        assert_eq!(c.jvm_route.as_deref(), Some("node1"));
        assert_eq!(c.cluster.attr("channelSendOptions"), Some("8"));
        let channel = c.cluster.child("Channel").unwrap();
        assert_eq!(channel.child("Membership").unwrap().attr("dropTime"), Some("3000"));
        let interceptors: Vec<_> = channel.children_named("Interceptor").collect();
        assert_eq!(interceptors.len(), 2);
        assert_eq!(interceptors[1].child("Member").unwrap().attr("port"), Some("4001"));
        assert_eq!(channel.child("Membership").unwrap().line, 8);
    }

    #[test]
    fn a_cluster_in_a_host_is_found_there() {
        let xml = HOWTO
            .replace("<Host name=\"localhost\" appBase=\"webapps\"/>", "<Host name=\"a\"><Cluster x=\"1\"/></Host>");
        let err = parse(&xml, None).unwrap_err();
        assert!(err.to_string().contains("2 <Cluster> elements"), "{err}");
        let only_engine = xml
            .replace(
                "<Cluster className=\"org.apache.catalina.ha.tcp.SimpleTcpCluster\" channelSendOptions=\"8\">",
                "<Clustre>",
            )
            .replace("</Cluster>\n      <Host", "</Clustre>\n      <Host");
        let c = parse(&only_engine, Some("a")).unwrap();
        assert_eq!(c.placement, ClusterPlacement::Host { engine: "Catalina".into(), host: "a".into() });
    }

    #[test]
    fn no_cluster_and_bad_xml_are_clear_errors() {
        assert!(matches!(parse("<Server/>", None), Err(ServerXmlError::NoCluster)));
        let err = parse("<Server><Engine>", None).unwrap_err();
        assert!(err.to_string().starts_with("server.xml is not well-formed XML"), "{err}");
    }
}
