"""REST bodies in the shapes of Cisco's Finesse developer guide, for parser and client tests."""

from __future__ import annotations

USER_REST = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<User>
  <dialogs>/finesse/api/User/1001/Dialogs</dialogs>
  <extension>1001001</extension>
  <firstName>Ann &amp; Co</firstName>
  <lastName>Agent</lastName>
  <loginId>1001</loginId>
  <loginName>ann</loginName>
  <mediaType>1</mediaType>
  <mobileAgent><mode>NAILED_CONNECTION</mode><dialNumber>+420123456789</dialNumber></mobileAgent>
  <pendingState>READY</pendingState>
  <reasonCodeId>16</reasonCodeId>
  <ReasonCode>
    <category>NOT_READY</category>
    <code>32762</code>
    <label>Lunch</label>
    <id>16</id>
    <uri>/finesse/api/ReasonCode/16</uri>
  </ReasonCode>
  <roles><role>Agent</role></roles>
  <settings>
    <wrapUpOnIncoming>REQUIRED</wrapUpOnIncoming>
    <wrapUpOnOutgoing>NOT_ALLOWED</wrapUpOnOutgoing>
  </settings>
  <state>TALKING</state>
  <stateChangeTime>2026-11-21T10:00:00.123Z</stateChangeTime>
  <teamId>7</teamId>
  <teamName>Sales</teamName>
  <activeDeviceId>SEP0011</activeDeviceId>
  <uri>/finesse/api/User/1001</uri>
  <wrapUpTimer>60</wrapUpTimer>
  <someFutureField><nested>ignored</nested></someFutureField>
</User>
"""

DIALOG_REST = b"""<Dialog>
  <associatedDialogUri></associatedDialogUri>
  <fromAddress>5551234</fromAddress>
  <id>16817</id>
  <mediaProperties>
    <DNIS>1001001</DNIS>
    <callType>ACD_IN</callType>
    <dialedNumber>8000</dialedNumber>
    <queueName>Support</queueName>
    <wrapUpReason>Resolved</wrapUpReason>
    <callvariables>
      <CallVariable><name>callVariable1</name><value>order 42</value></CallVariable>
      <CallVariable><name>callVariable2</name><value></value></CallVariable>
      <CallVariable><name>user.customer.tier</name><value> gold </value></CallVariable>
    </callvariables>
  </mediaProperties>
  <mediaType>Voice</mediaType>
  <participants>
    <Participant>
      <actions><action>HOLD</action><action>DROP</action><action>UPDATE_CALL_DATA</action></actions>
      <mediaAddress>1001001</mediaAddress>
      <mediaAddressType>AGENT_DEVICE</mediaAddressType>
      <startTime>2026-11-21T10:00:01.000Z</startTime>
      <state>ACTIVE</state>
      <stateCause></stateCause>
      <stateChangeTime>2026-11-21T10:00:01.000Z</stateChangeTime>
    </Participant>
    <Participant>
      <actions/>
      <mediaAddress>5551234</mediaAddress>
      <mediaAddressType></mediaAddressType>
      <startTime>1763719201000</startTime>
      <state>ACTIVE</state>
      <stateCause/>
    </Participant>
  </participants>
  <state>ACTIVE</state>
  <toAddress>1001001</toAddress>
  <uri>/finesse/api/Dialog/16817</uri>
</Dialog>"""

DIALOGS_REST = b"<Dialogs>" + DIALOG_REST + b"<Dialog><uri>/finesse/api/Dialog/99</uri></Dialog></Dialogs>"

REASON_CODES_REST = b"""<ReasonCodes>
  <ReasonCode>
    <category>NOT_READY</category>
    <uri>/finesse/api/ReasonCode/16</uri>
    <code>32762</code>
    <label>Lunch</label>
    <forAll>true</forAll>
    <systemCode>false</systemCode>
  </ReasonCode>
  <ReasonCode>
    <category>NOT_READY</category>
    <uri>/finesse/api/ReasonCode/17/</uri>
    <code>2</code>
    <label>Meeting &lt;weekly&gt;</label>
    <forAll>False</forAll>
  </ReasonCode>
</ReasonCodes>"""

WRAP_UP_REASONS_REST = b"""<WrapUpReasons>
  <WrapUpReason>
    <label>Resolved</label><forAll>true</forAll><uri>/finesse/api/WrapUpReason/3</uri>
  </WrapUpReason>
  <WrapUpReason>
    <label>Call back</label><forAll>false</forAll><uri>/finesse/api/WrapUpReason/4</uri>
  </WrapUpReason>
</WrapUpReasons>"""

DEVICES_REST = b"""<Devices>
  <Device>
    <deviceId>SEP0011</deviceId><deviceType>Cisco 8865</deviceType><deviceTypeName>Desk</deviceTypeName>
  </Device>
  <Device>
    <deviceId>CSFANN</deviceId><deviceType>Cisco Jabber</deviceType><deviceTypeName>Soft</deviceTypeName>
  </Device>
</Devices>"""

SYSTEM_INFO_REST = b"""<SystemInfo>
  <currentTimestamp>2026-11-21T10:00:00.000Z</currentTimestamp>
  <deploymentType>UCCE</deploymentType>
  <primaryNode><host>finesse-a.lan</host></primaryNode>
  <secondaryNode><host>finesse-b.lan</host></secondaryNode>
  <status>IN_SERVICE</status>
  <systemAuthMode>NON_SSO</systemAuthMode>
  <timezoneOffset>60</timezoneOffset>
  <xmppDomain>finesse-a.lan</xmppDomain>
  <xmppPubSubDomain>pubsub.finesse-a.lan</xmppPubSubDomain>
</SystemInfo>"""


def api_errors(status_type: str, message: str, data: str = "") -> bytes:
    return (
        f"<ApiErrors><ApiError><ErrorType>{status_type}</ErrorType><ErrorMessage>{message}</ErrorMessage>"
        f"<ErrorData>{data}</ErrorData></ApiError></ApiErrors>"
    ).encode()


BAD_CREDENTIALS_HTML = b"""<html><head><title>Error 401 Unauthorized</title></head>
<body><h2>HTTP ERROR 401</h2><p>Problem accessing /finesse/api/User/1001. Reason:<br>
<pre>    Unauthorized</pre></p><hr><i><small>Powered by Jetty://</small></i><br/>
</body></html>"""


def update(
    data: str, *, event: str = "PUT", source: str = "/finesse/api/User/1001", request_id: str = ""
) -> str:
    return (
        f"<Update><data>{data}</data><event>{event}</event><requestId>{request_id}</requestId>"
        f"<source>{source}</source></Update>"
    )
